package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Table is the Store on Azure Table Storage (or Azurite). Writes are
// entity-group transactions (SubmitTransaction), one per partition and
// hundred operations; the SDK retries transient failures itself, and what
// fails after its retries is returned wrapped so the invocation fails and
// the host redelivers the batch. It is safe for concurrent use.
type Table struct {
	engine
}

// TableOptions tunes a Table. The zero value is the default.
type TableOptions struct {
	// Parallelism is how many partitions are read or written at once
	// (default 8).
	Parallelism int
	// Client passes retry, transport and telemetry options to the SDK.
	Client *aztables.ClientOptions
	// CacheBytes bounds the views of partitions kept to answer reads for
	// update without a round trip (cache.go): default 64 MiB, negative for
	// none (every read is then a round trip; transactions still write the
	// version rows other stores' views are checked by).
	CacheBytes int64
}

const defaultParallelism = 8

// NewTable opens the account's table service with a token credential
// (azidentity.NewDefaultAzureCredential in production: the function app's
// managed identity with the Storage Table Data Contributor role).
// accountURL is https://<account>.table.core.windows.net.
func NewTable(accountURL string, cred azcore.TokenCredential, opts *TableOptions) (*Table, error) {
	o := tableOptions(opts)
	svc, err := aztables.NewServiceClient(accountURL, cred, o.Client)
	if err != nil {
		return nil, fmt.Errorf("state: table service %s: %w", accountURL, err)
	}
	return newTable(svc, o), nil
}

// NewTableFromConnectionString opens the table service of a connection
// string with an account key (Azurite's development string included).
func NewTableFromConnectionString(conn string, opts *TableOptions) (*Table, error) {
	o := tableOptions(opts)
	svc, err := aztables.NewServiceClientFromConnectionString(conn, o.Client)
	if err != nil {
		// The SDK's message does not repeat the string, which holds a key.
		return nil, fmt.Errorf("state: table connection string: %w", err)
	}
	return newTable(svc, o), nil
}

func tableOptions(opts *TableOptions) TableOptions {
	var o TableOptions
	if opts != nil {
		o = *opts
	}
	if o.Parallelism <= 0 {
		o.Parallelism = defaultParallelism
	}
	return o
}

func newTable(svc *aztables.ServiceClient, o TableOptions) *Table {
	t := &Table{}
	t.engine = newEngine(&tableBackend{svc: svc}, o.Parallelism)
	t.engine.versioned = true
	switch {
	case o.CacheBytes == 0:
		t.engine.cache = newViewCache(defaultCacheBytes)
	case o.CacheBytes > 0:
		t.engine.cache = newViewCache(o.CacheBytes)
	}
	return t
}

type tableBackend struct {
	svc *aztables.ServiceClient
}

// Property names and OData types of the stored entity.
const (
	propExpires = "Expires"
	propCount   = "Count"
	propTime    = "Time"
	propText    = "Text"
	propData    = "Data"

	edmTimeLayout = "2006-01-02T15:04:05.0000000Z"
)

func (t *tableBackend) createTable(ctx context.Context, table string) error {
	_, err := t.svc.CreateTable(ctx, table, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.ErrorCode == string(aztables.TableAlreadyExists) {
		return nil // created by another instance, or earlier
	}
	return err
}

func (t *tableBackend) get(ctx context.Context, table string, k Key) (Entity, bool, error) {
	resp, err := t.svc.NewClient(table).GetEntity(ctx, k.PartitionKey, k.RowKey, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound &&
			(re.ErrorCode == string(aztables.ResourceNotFound) || re.ErrorCode == string(aztables.EntityNotFound)) {
			return Entity{}, false, nil
		}
		return Entity{}, false, err
	}
	e, err := decodeEntity(resp.Value)
	if err != nil {
		return Entity{}, false, err
	}
	if resp.ETag != "" {
		e.ETag = string(resp.ETag)
	}
	return e, true, nil
}

func (t *tableBackend) query(ctx context.Context, table string, q query, fn func([]Entity) error) (trips, seen int, err error) {
	filter, sel := q.filter()
	opts := &aztables.ListEntitiesOptions{Filter: &filter}
	if sel != "" {
		opts.Select = &sel
	}
	pager := t.svc.NewClient(table).NewListEntitiesPager(opts)
	for pager.More() {
		trips++
		page, err := pager.NextPage(ctx)
		if err != nil {
			return trips, seen, err
		}
		seen += len(page.Entities)
		out := make([]Entity, 0, len(page.Entities))
		for _, raw := range page.Entities {
			e, err := decodeEntity(raw)
			if err != nil {
				return trips, seen, err
			}
			// A prefix query's upper bound may be open; keep the contract.
			if q.rows == nil && q.ranges == nil && q.expired.IsZero() && !strings.HasPrefix(e.RowKey, q.prefix) {
				continue
			}
			out = append(out, e)
		}
		if err := fn(out); err != nil {
			return trips, seen, err
		}
	}
	return max(trips, 1), seen, nil
}

// filter renders the query as OData, and the properties to select.
func (q query) filter() (filter, sel string) {
	var b strings.Builder
	switch {
	case q.rows != nil:
		fmt.Fprintf(&b, "PartitionKey eq %s and (", odataString(q.partition))
		for i, r := range q.rows {
			if i > 0 {
				b.WriteString(" or ")
			}
			fmt.Fprintf(&b, "RowKey eq %s", odataString(r))
		}
		b.WriteString(")")
	case q.ranges != nil:
		fmt.Fprintf(&b, "PartitionKey eq %s and (", odataString(q.partition))
		for i, r := range q.ranges {
			if i > 0 {
				b.WriteString(" or ")
			}
			if end, ok := prefixEnd(r[1]); ok {
				fmt.Fprintf(&b, "(RowKey ge %s and RowKey lt %s)", odataString(r[0]), odataString(end))
			} else {
				fmt.Fprintf(&b, "RowKey ge %s", odataString(r[0]))
			}
		}
		b.WriteString(")")
	case !q.expired.IsZero():
		fmt.Fprintf(&b, "%s lt datetime'%s'", propExpires, normTime(q.expired).Format(edmTimeLayout))
		sel = "PartitionKey,RowKey," + propExpires
	default:
		fmt.Fprintf(&b, "PartitionKey eq %s", odataString(q.partition))
		if q.prefix != "" {
			fmt.Fprintf(&b, " and RowKey ge %s", odataString(q.prefix))
			if end, ok := prefixEnd(q.prefix); ok {
				fmt.Fprintf(&b, " and RowKey lt %s", odataString(end))
			}
		}
	}
	return b.String(), sel
}

func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// prefixEnd is the least string above every string starting with p, when
// it is plain ASCII (escaped keys are).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for len(b) > 0 && b[len(b)-1] >= 0x7E {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "", false
	}
	b[len(b)-1]++
	return string(b), true
}

func (t *tableBackend) submit(ctx context.Context, table, partition string, ops []Op) error {
	_, err := t.svc.NewClient(table).SubmitTransaction(ctx, transactionActions(ops), nil)
	if err == nil {
		return nil
	}
	if c := conflictOf(err); c != nil {
		return c
	}
	return err
}

// submitTagged is submit that reads the new ETags from the response: the
// SDK returns none, but its pipeline keeps the whole body, and each
// operation's part of a changeset that succeeded carries its ETag.
func (t *tableBackend) submitTagged(ctx context.Context, table, partition string, ops []Op) ([]string, error) {
	var raw *http.Response
	_, err := t.svc.NewClient(table).SubmitTransaction(policy.WithCaptureResponse(ctx, &raw), transactionActions(ops), nil)
	if err != nil {
		if c := conflictOf(err); c != nil {
			return nil, c
		}
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	etags := partETags(raw)
	if len(etags) != len(ops) {
		return nil, nil
	}
	return etags, nil
}

func transactionActions(ops []Op) []aztables.TransactionAction {
	actions := make([]aztables.TransactionAction, len(ops))
	for i, o := range ops {
		a := aztables.TransactionAction{}
		switch o.Kind {
		case Insert:
			a.ActionType = aztables.TransactionTypeAdd
		case Upsert:
			a.ActionType = aztables.TransactionTypeInsertReplace
		case Replace:
			// UpdateReplace without If-Match would be an upsert: always set it.
			a.ActionType = aztables.TransactionTypeUpdateReplace
			a.IfMatch = etagPtr(o.Entity.ETag)
		case Delete:
			a.ActionType = aztables.TransactionTypeDelete
			a.IfMatch = etagPtr(o.Entity.ETag)
		}
		if o.Kind == Delete {
			a.Entity = encodeKeys(o.Entity)
		} else {
			a.Entity = encodeEntity(normalise(o.Entity))
		}
		actions[i] = a
	}
	return actions
}

func (t *tableBackend) remove(ctx context.Context, table string, k Key, etag string) error {
	_, err := t.svc.NewClient(table).DeleteEntity(ctx, k.PartitionKey, k.RowKey,
		&aztables.DeleteEntityOptions{IfMatch: etagPtr(etag)})
	if err == nil {
		return nil
	}
	if c := conflictOf(err); c != nil {
		return c
	}
	return err
}

func etagPtr(s string) *azcore.ETag {
	e := azcore.ETag(s)
	return &e
}

// conflictOf recognises a failed precondition by the service's error code:
// on the response itself, or, for a transaction (202 Accepted with a
// multipart body), on the inner response of the operation that failed.
func conflictOf(err error) *txConflict {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return nil
	}
	code, status, index := re.ErrorCode, re.StatusCode, -1
	if re.RawResponse != nil {
		if inner, ok := innerFailure(re.RawResponse); ok {
			code, status, index = inner.code, inner.status, inner.index
		}
	}
	switch aztables.TableErrorCode(code) {
	case aztables.UpdateConditionNotSatisfied, aztables.EntityAlreadyExists,
		aztables.ResourceNotFound, aztables.EntityNotFound:
		return &txConflict{index: index, code: code}
	}
	if code == "" && status == http.StatusPreconditionFailed {
		return &txConflict{index: index, code: strconv.Itoa(status)}
	}
	return nil
}

type failure struct {
	status int
	code   string
	index  int
}

// innerFailure reads a transaction response: multipart/mixed holding one
// changeset whose parts are HTTP responses; a failed changeset holds the one
// that failed. The service prefixes the error message with the failing
// operation's index ("1:The update condition..."): that names the row in
// ConflictError, it never decides whether this is a conflict.
func innerFailure(resp *http.Response) (failure, bool) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return failure{}, false
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return failure{}, false
	}
	outer := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := outer.NextPart()
		if err != nil {
			return failure{}, false
		}
		if f, ok := failedPart(part); ok {
			return f, true
		}
	}
}

// partETags reads the ETag of every operation's response in a
// transaction's response, in order; an operation without one (or a body
// that is not a transaction's) ends the list early.
func partETags(resp *http.Response) []string {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return nil
	}
	var etags []string
	var walk func(r *multipart.Reader) bool
	walk = func(r *multipart.Reader) bool {
		for {
			part, err := r.NextPart()
			if err != nil {
				return err == io.EOF
			}
			mt, params, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
			switch {
			case err != nil:
				return false
			case strings.HasPrefix(mt, "multipart/"):
				if !walk(multipart.NewReader(part, params["boundary"])) {
					return false
				}
			case mt == "application/http":
				r, err := http.ReadResponse(bufio.NewReader(part), nil)
				if err != nil {
					return false
				}
				r.Body.Close()
				etag := r.Header.Get("ETag")
				if r.StatusCode >= 300 || etag == "" {
					return false
				}
				etags = append(etags, etag)
			}
		}
	}
	if !walk(multipart.NewReader(bytes.NewReader(body), params["boundary"])) {
		return nil
	}
	return etags
}

// failedPart looks into one part: a nested changeset or an HTTP response.
func failedPart(part *multipart.Part) (failure, bool) {
	mt, params, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil {
		return failure{}, false
	}
	if strings.HasPrefix(mt, "multipart/") {
		inner := multipart.NewReader(part, params["boundary"])
		for {
			p, err := inner.NextPart()
			if err != nil {
				return failure{}, false
			}
			if f, ok := failedPart(p); ok {
				return f, true
			}
		}
	}
	if mt != "application/http" {
		return failure{}, false
	}
	r, err := http.ReadResponse(bufio.NewReader(part), nil)
	if err != nil || r.StatusCode < 400 {
		return failure{}, false
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	f := failure{status: r.StatusCode, code: r.Header.Get("x-ms-error-code"), index: -1}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if json.Unmarshal(raw, &doc) == nil {
		if doc.Error.Code != "" {
			f.code = doc.Error.Code
		}
		if i := strings.IndexByte(doc.Error.Message.Value, ':'); i > 0 {
			if n, err := strconv.Atoi(doc.Error.Message.Value[:i]); err == nil {
				f.index = n
			}
		}
	}
	return f, true
}

// wireEntity is the entity as JSON with minimal metadata. Count is an
// Edm.Int64, which OData writes as a string.
type wireEntity struct {
	PartitionKey string   `json:"PartitionKey"`
	RowKey       string   `json:"RowKey"`
	ETag         string   `json:"odata.etag,omitempty"`
	ExpiresType  string   `json:"Expires@odata.type,omitempty"`
	Expires      string   `json:"Expires,omitempty"`
	CountType    string   `json:"Count@odata.type,omitempty"`
	Count        edmInt64 `json:"Count,omitempty"`
	TimeType     string   `json:"Time@odata.type,omitempty"`
	Time         string   `json:"Time,omitempty"`
	Text         string   `json:"Text,omitempty"`
	DataType     string   `json:"Data@odata.type,omitempty"`
	Data         []byte   `json:"Data,omitempty"`
}

// edmInt64 reads an Int64 written as a string or a number.
type edmInt64 int64

func (n edmInt64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(n), 10)), nil
}

func (n *edmInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("Int64 property %s: %w", b, err)
	}
	*n = edmInt64(v)
	return nil
}

func encodeEntity(e Entity) []byte {
	w := wireEntity{PartitionKey: e.PartitionKey, RowKey: e.RowKey, Text: e.Text}
	if !e.Expires.IsZero() {
		w.ExpiresType, w.Expires = "Edm.DateTime", e.Expires.Time().Format(edmTimeLayout)
	}
	if e.Count != 0 {
		w.CountType, w.Count = "Edm.Int64", edmInt64(e.Count)
	}
	if !e.Time.IsZero() {
		w.TimeType, w.Time = "Edm.DateTime", e.Time.Format(edmTimeLayout)
	}
	if len(e.Data) > 0 {
		w.DataType, w.Data = "Edm.Binary", e.Data
	}
	b, _ := json.Marshal(w) // strings, a byte slice and an int: cannot fail
	return b
}

func encodeKeys(e Entity) []byte {
	b, _ := json.Marshal(wireEntity{PartitionKey: e.PartitionKey, RowKey: e.RowKey})
	return b
}

func decodeEntity(raw []byte) (Entity, error) {
	var w wireEntity
	if err := json.Unmarshal(raw, &w); err != nil {
		return Entity{}, fmt.Errorf("decode entity: %w", err)
	}
	e := Entity{PartitionKey: w.PartitionKey, RowKey: w.RowKey, ETag: w.ETag, Count: int64(w.Count), Text: w.Text, Data: w.Data}
	exp, err := parseEdmTime(w.Expires)
	if err != nil {
		return Entity{}, fmt.Errorf("decode entity %s/%s: %s: %w", w.PartitionKey, w.RowKey, propExpires, err)
	}
	e.Expires = StampOf(exp)
	if e.Time, err = parseEdmTime(w.Time); err != nil {
		return Entity{}, fmt.Errorf("decode entity %s/%s: %s: %w", w.PartitionKey, w.RowKey, propTime, err)
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

func parseEdmTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return normTime(t), nil
}

var _ Store = (*Table)(nil)
