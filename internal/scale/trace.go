package scale

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/azdetect/azdetect/internal/state"
)

// Call is one request a proxy passed to the Table service, as the trace
// names it: what kind of call, on which table, touching which partitions.
type Call struct {
	Kind       CallKind
	Table      string
	Partitions []string // partition keys, decoded
	Status     int
	Conflict   bool // 409 or 412, inside a transaction too
	Ops        int  // a transaction's operations
}

// CallKind sorts the calls of a trace.
type CallKind string

// The kinds of calls.
const (
	CallQuery       CallKind = "query"       // GET on a table, $filter
	CallPointRead   CallKind = "read"        // GET of one entity
	CallTransaction CallKind = "transaction" // POST $batch
	CallWrite       CallKind = "write"       // one entity: insert, update, merge, delete
	CallTable       CallKind = "table"       // create or delete a table
	CallOther       CallKind = "other"
)

// trace keeps the calls a proxy passed while it is on.
type trace struct {
	mu    sync.Mutex
	on    bool
	calls []Call
}

func (t *trace) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on, t.calls = true, nil
}

// stop ends the trace and returns its calls.
func (t *trace) stop() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	calls := t.calls
	t.on, t.calls = false, nil
	return calls
}

func (t *trace) add(c Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.on {
		t.calls = append(t.calls, c)
	}
}

var (
	// an entity path: /account/table(PartitionKey='pk',RowKey='rk')
	entityPath = regexp.MustCompile(`/(\w+)\(PartitionKey='((?:[^']|'')*)'`)
	// a table path: /account/table or /account/table()
	tablePath = regexp.MustCompile(`^/[^/]+/(\w+)(?:\(\))?$`)
	// a partition in a $filter: PartitionKey eq 'pk'
	filterPartition = regexp.MustCompile(`PartitionKey eq '((?:[^']|'')*)'`)
	// an operation of a transaction: METHOD URL HTTP/1.1
	batchOp = regexp.MustCompile(`(?m)^(?:POST|PUT|PATCH|MERGE|DELETE) (\S+) HTTP/1\.1`)
	// the partition of an inserted entity, in its JSON body
	bodyPartition = regexp.MustCompile(`"PartitionKey":\s*"((?:[^"\\]|\\.)*)"`)
)

// describe names a request: its kind, table and partitions. body is the
// request's body (a transaction's or an insert's).
func describe(method string, u *url.URL, body []byte) Call {
	path := u.Path
	switch {
	case strings.HasSuffix(path, "/Tables") || strings.Contains(path, "/Tables('"):
		return Call{Kind: CallTable}
	case method == http.MethodPost && strings.HasSuffix(path, "/$batch"):
		c := Call{Kind: CallTransaction}
		seen := map[string]bool{}
		ops := batchOp.FindAllSubmatch(body, -1)
		c.Ops = len(ops)
		for _, m := range ops {
			ou, err := url.Parse(string(m[1]))
			if err != nil {
				continue
			}
			op := describeEntity(ou.Path)
			if op.Table == "" {
				// An insert: the table in the URL, the key in the body.
				if tm := tablePath.FindStringSubmatch(ou.Path); tm != nil {
					op.Table = tm[1]
				}
			}
			if c.Table == "" {
				c.Table = op.Table
			}
			for _, p := range op.Partitions {
				if !seen[p] {
					seen[p] = true
					c.Partitions = append(c.Partitions, p)
				}
			}
		}
		for _, m := range bodyPartition.FindAllSubmatch(body, -1) {
			if p := string(m[1]); !seen[p] {
				seen[p] = true
				c.Partitions = append(c.Partitions, p)
			}
		}
		return c
	}
	if c := describeEntity(path); c.Table != "" {
		c.Kind = CallWrite
		if method == http.MethodGet {
			c.Kind = CallPointRead
		}
		return c
	}
	if m := tablePath.FindStringSubmatch(path); m != nil {
		c := Call{Table: m[1], Kind: CallOther}
		switch method {
		case http.MethodGet:
			c.Kind = CallQuery
			for _, fm := range filterPartition.FindAllStringSubmatch(u.Query().Get("$filter"), -1) {
				c.Partitions = append(c.Partitions, strings.ReplaceAll(fm[1], "''", "'"))
			}
		case http.MethodPost:
			c.Kind = CallWrite
			if bm := bodyPartition.FindSubmatch(body); bm != nil {
				c.Partitions = []string{string(bm[1])}
			}
		}
		return c
	}
	return Call{Kind: CallOther}
}

// describeEntity reads an entity path (already unescaped).
func describeEntity(path string) Call {
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	m := entityPath.FindStringSubmatch(path)
	if m == nil {
		return Call{}
	}
	return Call{Table: m[1], Partitions: []string{strings.ReplaceAll(m[2], "''", "'")}}
}

// Trips is what one invocation's calls cost, from a trace.
type Trips struct {
	Requests     int // every call but table creation
	Partitions   int // distinct table/partition pairs touched
	Reads        int // queries and point reads
	Transactions int
	Writes       int // single-entity writes
	Conflicts    int
	// PerPartition is the most calls on one table/partition pair.
	PerPartition map[string]int
	// Needed is the fewest calls the partitions touched take: one each,
	// or, for a partition written with more operations than one
	// transaction holds, one per MaxTransactionOps operations written.
	Needed int
}

// TripsOf sums a trace.
func TripsOf(calls []Call) Trips {
	b := Trips{PerPartition: map[string]int{}}
	ops := map[string]int{}
	for _, c := range calls {
		if c.Kind == CallTable {
			continue
		}
		b.Requests++
		switch c.Kind {
		case CallQuery, CallPointRead:
			b.Reads++
		case CallTransaction:
			b.Transactions++
		case CallWrite:
			b.Writes++
		}
		if c.Conflict {
			b.Conflicts++
		}
		for _, p := range c.Partitions {
			b.PerPartition[c.Table+"/"+p]++
			if c.Kind == CallTransaction && len(c.Partitions) == 1 {
				ops[c.Table+"/"+p] += c.Ops
			}
		}
	}
	b.Partitions = len(b.PerPartition)
	for p := range b.PerPartition {
		b.Needed += max(1, (ops[p]+state.MaxTransactionOps-1)/state.MaxTransactionOps)
	}
	return b
}
