package scale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/archive"
	"github.com/azdetect/azdetect/internal/detect"
)

// Config is one simulation: Instances processes of `azdetect serve` on one
// Table Storage account, instance i fed Event Hub partition i's batches.
type Config struct {
	Bin          string // the azdetect binary
	FunctionsDir string // the repository's functions folder
	WorkDir      string // alert and dead-letter files
	// TableConnectionString is the account (Azurite); every instance
	// reaches it through its own counting proxy.
	TableConnectionString string
	Instances             int
	RecordsPerPartition   int
	EventsPerBatch        int // Event Hub events per invocation
	RecordsPerEvent       int // records in each event's {"records":[...]}
	// RedeliverEvery redelivers every n-th batch of each partition right
	// after it succeeded (a checkpoint that failed to save); 0 never.
	RedeliverEvery int
	// Kill kills instance 0 in the middle of its KillBatch-th batch, just
	// after one of its transactions reached the table and before the
	// answer came back; a new process takes the partition over and the
	// batch is delivered again from the last checkpoint.
	Kill      bool
	KillBatch int
	Seed      uint64
	Log       io.Writer // progress; nil for none
	Env       []string  // extra environment for every instance
}

// Result is what a simulation measured.
type Result struct {
	Records      int           // records delivered once (redeliveries not counted)
	Delivered    int           // records delivered, redeliveries included
	Batches      int           // invocations answered 200
	Redeliveries int           // invocations of a batch already answered or cut short
	Killed       int           // processes killed mid-batch
	Duration     time.Duration // feeding, all partitions at once
	Requests     int64         // Table requests, every instance
	Conflicts    int64         // precondition failures (409/412, inside transactions too)
	Throttled    int64         // 503 ServerBusy / 500 OperationTimedOut
	// ConflictsBy counts conflicts by what was written: the kind prefix
	// of the partition key (thr, spk, nt, seq) or the table; a conflict
	// of a transaction checked by a Table store's view of the partition
	// (the view was stale, or the partition wrongly assumed empty:
	// internal/state/cache.go) is counted under "view " and the partition.
	ConflictsBy map[string]int64
	MaxPerBatch int64       // the most Table requests of one invocation
	Sent        []SentAlert // every alert line the instances wrote
	Workload    *Workload
}

// SentAlert is one alert as an instance's sink wrote it.
type SentAlert struct {
	ID       string `json:"id"`
	RuleID   string `json:"rule_id"`
	Title    string `json:"title"`
	GroupKey string `json:"group_key"`
	Count    int    `json:"count"`
	Instance int    `json:"-"`
}

// AlertIDs is the distinct alert ids sent, sorted.
func (r Result) AlertIDs() []string {
	var ids []string
	for _, a := range r.Sent {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Summary is the figures as one paragraph.
func (r Result) Summary(instances int) string {
	perBatch := float64(r.Requests) / float64(max(r.Batches+r.Redeliveries, 1))
	var view int64
	for what, n := range r.ConflictsBy {
		if strings.HasPrefix(what, "view ") {
			view += n
		}
	}
	return fmt.Sprintf("%d instances: %d records (%d delivered with redeliveries) in %s = %.0f records/s; "+
		"%d invocations (%d redelivered, %d processes killed mid-batch); Table: %d requests (%.1f per invocation, max %d), "+
		"%d conflicts (%.2f per invocation; %d of views), %d throttled; alerts: %d sent, %d distinct",
		instances, r.Records, r.Delivered, r.Duration.Round(time.Millisecond), float64(r.Delivered)/r.Duration.Seconds(),
		r.Batches+r.Redeliveries, r.Redeliveries, r.Killed, r.Requests, perBatch, r.MaxPerBatch,
		r.Conflicts, float64(r.Conflicts)/float64(max(r.Batches+r.Redeliveries, 1)), view, r.Throttled, len(r.Sent), len(r.AlertIDs()))
}

// Simulate runs cfg.
func Simulate(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Instances < 1 || cfg.EventsPerBatch < 1 || cfg.RecordsPerEvent < 1 {
		return Result{}, errors.New("simulate: instances, events per batch and records per event must be positive")
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	target, err := tableEndpoint(cfg.TableConnectionString)
	if err != nil {
		return Result{}, err
	}
	if err := emptyTables(ctx, cfg.TableConnectionString); err != nil {
		return Result{}, err
	}
	w := NewWorkload(cfg.Instances, cfg.RecordsPerPartition, cfg.Seed)
	res := Result{Workload: w}
	var mu sync.Mutex
	insts := make([]*instance, cfg.Instances)
	for i := range insts {
		px, err := newProxy(target)
		if err != nil {
			return res, err
		}
		defer px.close()
		insts[i] = &instance{id: i, cfg: cfg, proxy: px}
	}
	defer func() {
		for _, in := range insts {
			in.stop()
		}
	}()
	for _, in := range insts {
		if err := in.start(ctx); err != nil {
			return res, err
		}
	}
	logf("simulate: %d serve processes up; %d records per partition", len(insts), cfg.RecordsPerPartition)

	start := time.Now()
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, in := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = in.feed(ctx, w.Partitions[i], &res, &mu)
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for _, in := range insts {
		res.Requests += in.proxy.requests.Load()
		res.Conflicts += in.proxy.conflicts.Load()
		res.Throttled += in.proxy.throttled.Load()
		in.proxy.mu.Lock()
		for k, n := range in.proxy.by {
			if res.ConflictsBy == nil {
				res.ConflictsBy = map[string]int64{}
			}
			res.ConflictsBy[k] += n
		}
		in.proxy.mu.Unlock()
		in.stop()
		sent, err := readAlerts(in.alertFiles, in.id)
		if err != nil {
			return res, err
		}
		res.Sent = append(res.Sent, sent...)
	}
	res.Records = 0
	for _, p := range w.Partitions {
		res.Records += len(p)
	}
	return res, nil
}

// instance is one serve process and the partition it owns.
type instance struct {
	id         int
	cfg        Config
	proxy      *proxy
	cmd        *exec.Cmd
	url        string
	alertFiles []string
	started    int
	killed     bool
}

func (in *instance) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	in.started++
	alerts := filepath.Join(in.cfg.WorkDir, fmt.Sprintf("alerts-%02d-%d.jsonl", in.id, in.started))
	in.alertFiles = append(in.alertFiles, alerts)
	cmd := exec.CommandContext(ctx, in.cfg.Bin, "serve")
	cmd.Env = append(os.Environ(),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+fmt.Sprint(port),
		"AZDETECT_STATE=table",
		"AZDETECT_TABLE_CONNECTION_STRING="+in.proxy.connectionString(in.cfg.TableConnectionString),
		"AZDETECT_ALERT_SINK=jsonl",
		"AZDETECT_ALERT_FILE="+alerts,
		"AZDETECT_DEAD_LETTER_FILE="+filepath.Join(in.cfg.WorkDir, fmt.Sprintf("dead-%02d.jsonl", in.id)),
		"AZDETECT_FUNCTIONS_DIR="+in.cfg.FunctionsDir,
		"AZDETECT_LOG_LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, in.cfg.Env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("simulate: start instance %d: %w", in.id, err)
	}
	in.cmd = cmd
	in.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			in.stop()
			return fmt.Errorf("simulate: instance %d did not listen within 30s: %s", in.id, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = in.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = in.cmd.Process.Kill()
		<-done
	}
	in.cmd = nil
}

func (in *instance) kill() {
	if in.cmd != nil && in.cmd.Process != nil {
		_ = in.cmd.Process.Kill()
		_ = in.cmd.Wait()
		in.cmd = nil
	}
}

// feed delivers the partition's records batch by batch, as the Functions
// host would: the next batch only after the previous one answered 200, a
// batch again after a failed checkpoint or a crash.
func (in *instance) feed(ctx context.Context, records []string, res *Result, mu *sync.Mutex) error {
	per := in.cfg.EventsPerBatch * in.cfg.RecordsPerEvent
	var batches [][]string
	for b := range slices.Chunk(records, per) {
		batches = append(batches, b)
	}
	count := func(n int, redelivered bool, requests int64) {
		mu.Lock()
		defer mu.Unlock()
		res.Delivered += n
		if redelivered {
			res.Redeliveries++
		} else {
			res.Batches++
		}
		res.MaxPerBatch = max(res.MaxPerBatch, requests)
	}
	for b := 0; b < len(batches); b++ {
		body := in.invocation(b, batches[b])
		if in.cfg.Kill && in.id == 0 && b == in.cfg.KillBatch && !in.killed {
			in.killed = true
			// Mid-batch: the first transaction reaches the table, then the
			// process dies before it hears back.
			in.proxy.onWrite(func() { in.kill() })
			_, err := in.post(ctx, body)
			if err == nil {
				return fmt.Errorf("simulate: instance %d answered a batch it was killed in", in.id)
			}
			mu.Lock()
			res.Killed++
			res.Delivered += len(batches[b])
			mu.Unlock()
			if err := in.start(ctx); err != nil { // the partition's new owner
				return err
			}
			// It resumes at the last checkpoint: the batch before too.
			b = max(b-2, -1)
			continue
		}
		before := in.proxy.requests.Load()
		if _, err := in.post(ctx, body); err != nil {
			return err
		}
		count(len(batches[b]), false, in.proxy.requests.Load()-before)
		if in.cfg.RedeliverEvery > 0 && b%in.cfg.RedeliverEvery == in.cfg.RedeliverEvery-1 {
			before := in.proxy.requests.Load()
			if _, err := in.post(ctx, body); err != nil {
				return err
			}
			count(len(batches[b]), true, in.proxy.requests.Load()-before)
		}
	}
	return nil
}

// invocation is the Event Hubs trigger request of batch b: events of
// {"records":[...]} with their sequence numbers (functions-contract §2.1).
func (in *instance) invocation(b int, records []string) []byte {
	var bodies, seqs []string
	for e := range slices.Chunk(records, in.cfg.RecordsPerEvent) {
		bodies = append(bodies, `{"records":[`+strings.Join(e, ",")+`]}`)
		seqs = append(seqs, fmt.Sprint(b*in.cfg.EventsPerBatch+len(seqs)))
	}
	dbl := func(v any) string { // a metadata value, JSON in a JSON string
		inner, _ := json.Marshal(v)
		outer, _ := json.Marshal(string(inner))
		return string(outer)
	}
	pc := map[string]string{"FullyQualifiedNamespace": "sim.servicebus.windows.net", "EventHubName": "azure-logs",
		"ConsumerGroup": "azdetect", "PartitionId": fmt.Sprint(in.id)}
	pcJSON, _ := json.Marshal(pc)
	return []byte(fmt.Sprintf(`{"Data":{"events":%s},"Metadata":{"PartitionContext":%s,"SequenceNumberArray":%s,"sys":{"MethodName":"ingest-eventhub","UtcNow":"%s"}}}`,
		dbl(bodies), pcJSON, dbl(json.RawMessage("["+strings.Join(seqs, ",")+"]")), time.Now().UTC().Format(time.RFC3339Nano)))
}

func (in *instance) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url+"/ingest-eventhub", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("simulate: instance %d answered %d: %s", in.id, resp.StatusCode, msg)
	}
	return resp.StatusCode, nil
}

func readAlerts(files []string, id int) ([]SentAlert, error) {
	var out []SentAlert
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var a SentAlert
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				return nil, fmt.Errorf("simulate: alert file %s: %w", f, err)
			}
			a.Instance = id
			out = append(out, a)
		}
	}
	return out, nil
}

// proxy is a counting reverse proxy in front of the Table service, one per
// instance.
type proxy struct {
	ln                             net.Listener
	srv                            *http.Server
	target                         *url.URL
	requests, conflicts, throttled atomic.Int64
	mu                             sync.Mutex
	afterWrite                     func()
	by                             map[string]int64
	trace                          trace
}

var (
	innerStatus = regexp.MustCompile(`HTTP/1\.1 (\d{3})`)
	// what a request writes: the table and the partition key of its first
	// operation (in a transaction's body or the URL of a single one).
	writeTarget = regexp.MustCompile(`/(\w+)\(PartitionKey='([^'%|]*)`)
	// an insert names its table in the URL and its keys in the body.
	insertTable = regexp.MustCompile(`POST \S+/(\w+)(?:\?\S*)? HTTP/1\.1`)
	insertKey   = regexp.MustCompile(`"PartitionKey":\s*"([^"|\\]*)`)
)

// viewChecked reports whether a transaction was checked by a view of its
// partition: its last operation writes the version row conditionally (an
// insert, or a replace with If-Match), not unconditionally (an upsert).
func viewChecked(reqBody []byte) bool {
	ops := batchOp.FindAllIndex(reqBody, -1)
	if len(ops) == 0 {
		return false
	}
	last := reqBody[ops[len(ops)-1][0]:]
	if !bytes.Contains(last, []byte(versionRowKey)) {
		return false
	}
	return bytes.HasPrefix(last, []byte("POST ")) || bytes.Contains(last, []byte("If-Match:"))
}

// versionRowKey is the row key of a partition's version row (state's
// versionRow), as it appears in a transaction's body.
const versionRowKey = "$version"

// conflict counts one, by what the request wrote.
func (p *proxy) conflict(req *http.Request, view bool) {
	p.conflicts.Add(1)
	what := "?"
	if body, ok := req.Context().Value(bodyKey{}).([]byte); ok {
		if m := writeTarget.FindSubmatch(body); m != nil {
			what = string(m[1]) + "/" + string(m[2])
		} else if t, k := insertTable.FindSubmatch(body), insertKey.FindSubmatch(body); t != nil && k != nil {
			what = string(t[1]) + "/" + string(k[1])
		}
	}
	if m := writeTarget.FindStringSubmatch(req.URL.Path); m != nil {
		what = m[1] + "/" + m[2]
	}
	if strings.HasSuffix(req.URL.Path, "/Tables") {
		what = "create table (exists)"
	}
	if view {
		what = "view " + what
	}
	p.mu.Lock()
	if p.by == nil {
		p.by = map[string]int64{}
	}
	p.by[what]++
	p.mu.Unlock()
}

type bodyKey struct{}

func newProxy(target *url.URL) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	rp.ModifyResponse = func(resp *http.Response) error {
		p.requests.Add(1)
		body, _ := resp.Request.Context().Value(bodyKey{}).([]byte)
		call := describe(resp.Request.Method, resp.Request.URL, body)
		call.Status = resp.StatusCode
		defer func() { p.trace.add(call) }()
		switch resp.StatusCode {
		case http.StatusConflict, http.StatusPreconditionFailed:
			call.Conflict = call.Kind != CallTable // a table that exists is no conflict of state
			p.conflict(resp.Request, false)
		case http.StatusServiceUnavailable:
			p.throttled.Add(1)
		case http.StatusAccepted: // a transaction: its inner responses
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			for _, m := range innerStatus.FindAllSubmatch(body, -1) {
				if s := string(m[1]); s == "409" || s == "412" {
					call.Conflict = true
					reqBody, _ := resp.Request.Context().Value(bodyKey{}).([]byte)
					p.conflict(resp.Request, viewChecked(reqBody))
					break
				}
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			p.mu.Lock()
			f := p.afterWrite
			p.afterWrite = nil
			p.mu.Unlock()
			if f != nil {
				f() // the write landed; the writer dies before it hears so
			}
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0) // a killed instance's requests end mid-way
	// Keep each request's body (a transaction's, an insert's) to name what
	// it wrote.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
		}
		rp.ServeHTTP(w, r)
	})
	p.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// onWrite runs f once, after the next transaction reached the table.
func (p *proxy) onWrite(f func()) {
	p.mu.Lock()
	p.afterWrite = f
	p.mu.Unlock()
}

func (p *proxy) close() { _ = p.srv.Close() }

// connectionString is conn with its table endpoint moved to the proxy.
func (p *proxy) connectionString(conn string) string {
	var parts []string
	for _, kv := range strings.Split(conn, ";") {
		if strings.HasPrefix(kv, "TableEndpoint=") {
			kv = "TableEndpoint=http://" + p.ln.Addr().String() + p.target.Path
		}
		parts = append(parts, kv)
	}
	return strings.Join(parts, ";")
}

// servedTables are the tables a serve process writes.
var servedTables = []string{detect.StateTable, alert.SuppressionTable, alert.OutboxTable, archive.CursorTable}

// emptyTables deletes the tables serve writes, so that the simulation
// starts as a new deployment does: the scan it is compared with starts
// from nothing too. State left on the same account by an earlier run or
// test (the round-trip test's demo, which writes to the subscriptions
// rule a deployment-wide first sighting on 2026-11-10, ending its
// learning week before the workload's day) would otherwise decide what
// is new: that was the "new subscription" alert seen once in a while.
func emptyTables(ctx context.Context, conn string) error {
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return fmt.Errorf("simulate: table connection string: %w", err)
	}
	for _, name := range servedTables {
		_, err := svc.DeleteTable(ctx, name, nil)
		var re *azcore.ResponseError
		if err != nil && !(errors.As(err, &re) && re.StatusCode == http.StatusNotFound) {
			return fmt.Errorf("simulate: empty table %s: %w", name, err)
		}
	}
	return nil
}

func tableEndpoint(conn string) (*url.URL, error) {
	for _, kv := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(kv, "TableEndpoint="); ok {
			return url.Parse(v)
		}
	}
	return nil, errors.New("simulate: the table connection string has no TableEndpoint")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
