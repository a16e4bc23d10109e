package invoke

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Function names of functions/ (folder name = route = function name).
const (
	FunctionEventHub    = "ingest-eventhub"
	FunctionBlob        = "ingest-blob"
	FunctionMaintenance = "maintenance"
)

// Replay defaults.
const (
	// DefaultMaxEventBytes keeps a framed event under Event Hubs Standard's
	// 1 MB event limit, leaving room for properties.
	DefaultMaxEventBytes = 1_000_000
	// DefaultMaxBatchEvents is the host's maxEventBatchSize (host.json).
	DefaultMaxBatchEvents = 100
	// ReplayHostVersion is the host version replay claims to be.
	ReplayHostVersion = "4.1037.0"

	replayAccount = "azdetectreplay"
	// maxResponseBytes bounds how much of an answer replay reads.
	maxResponseBytes = 16 << 20
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// URL is the running handler's base URL (http://127.0.0.1:8080).
	URL string
	// Function is the function to invoke; FunctionEventHub when empty.
	Function string
	// FunctionsDir, when set, is read to learn the function's trigger,
	// binding and dataType; otherwise the functions of functions/ are
	// assumed by name.
	FunctionsDir string
	// Paths are log files and folders (walked recursively). The timer
	// function takes none.
	Paths []string
	// Client posts the invocations; http.DefaultClient when nil. The host
	// itself waits functionTimeout + 1 min.
	Client *http.Client
	// MaxEventBytes bounds one framed Event Hub event; 0 means
	// DefaultMaxEventBytes. MaxBatchEvents bounds the events of one
	// invocation; 0 means DefaultMaxBatchEvents.
	MaxEventBytes  int
	MaxBatchEvents int
	// Partition is the partition the events claim to come from; empty
	// fields get replay defaults.
	Partition PartitionContext
	// Container is the container blob URIs name; the folder of a blob path
	// is kept below it. Default "insights-activity-logs".
	Container string
}

// ReplayInvocation is one invocation replay posted and what it got back.
type ReplayInvocation struct {
	Function     string
	InvocationID string
	Files        []string // files whose content it carried
	Events       int      // Event Hub events (Event Hubs trigger only)
	Records      int      // records framed into it, or found in the blob
	RequestBytes int
	Status       int
	Logs         []string // the response's Logs
	Duration     time.Duration
}

// ReplayReport is what Replay did.
type ReplayReport struct {
	Files       int
	Records     int // records framed (Event Hubs trigger) or found in the blobs
	Invocations []ReplayInvocation
}

// Replay reads log files and posts them to a running handler as the
// Functions host would: Event Hub batches of framed events, one blob per
// file, or a timer tick. It stops at the first invocation that does not
// succeed and returns the report so far with an error naming the status
// and the start of the answer. Each file is read whole into memory: replay
// is a stand-in for the host on a workstation, not a bulk loader.
func Replay(ctx context.Context, opts ReplayOptions) (ReplayReport, error) {
	var rep ReplayReport
	fn, err := replayFunction(opts)
	if err != nil {
		return rep, err
	}
	base, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return rep, fmt.Errorf("replay: handler URL %q: want http://host:port", opts.URL)
	}
	r := &replayer{opts: opts, fn: fn, target: base.String() + "/" + url.PathEscape(fn.Name), rep: &rep}
	r.defaults()

	switch fn.Trigger {
	case TriggerTimer:
		if len(opts.Paths) > 0 {
			return rep, fmt.Errorf("replay: function %s is a timer and takes no files", fn.Name)
		}
		return rep, r.timer(ctx)
	case TriggerEventHub, TriggerBlob:
	default:
		return rep, fmt.Errorf("replay: function %s: trigger type %q cannot be replayed", fn.Name, fn.Trigger)
	}
	if len(opts.Paths) == 0 {
		return rep, errors.New("replay: no files given")
	}
	files, err := replayFiles(opts.Paths)
	if err != nil {
		return rep, err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return rep, fmt.Errorf("replay: %w", err)
		}
		rep.Files++
		if fn.Trigger == TriggerBlob {
			if err := r.blob(ctx, f, data); err != nil {
				return rep, err
			}
			continue
		}
		if err := r.addFile(ctx, f.path, data); err != nil {
			return rep, err
		}
	}
	if fn.Trigger == TriggerEventHub {
		return rep, r.flushBatch(ctx)
	}
	return rep, nil
}

func replayFunction(opts ReplayOptions) (Function, error) {
	name := opts.Function
	if name == "" {
		name = FunctionEventHub
	}
	if opts.FunctionsDir != "" {
		fns, err := LoadFunctions(opts.FunctionsDir)
		if err != nil {
			return Function{}, fmt.Errorf("replay: %w", err)
		}
		for _, fn := range fns {
			if fn.Name == name {
				return fn, nil
			}
		}
		return Function{}, fmt.Errorf("replay: no function %q in %s", name, opts.FunctionsDir)
	}
	switch name {
	case FunctionEventHub:
		return Function{Name: name, Trigger: TriggerEventHub, Binding: "events", DataType: DataTypeString}, nil
	case FunctionBlob:
		return Function{Name: name, Trigger: TriggerBlob, Binding: "blob"}, nil
	case FunctionMaintenance:
		return Function{Name: name, Trigger: TriggerTimer, Binding: "timer"}, nil
	}
	return Function{}, fmt.Errorf("replay: unknown function %q: give the functions folder to learn its trigger (known: %s, %s, %s)",
		name, FunctionEventHub, FunctionBlob, FunctionMaintenance)
}

type replayFile struct {
	path string
	rel  string // path below the argument it was found in, with '/'
}

// replayFiles expands the arguments as scan does: files as given, folders
// walked in lexical order, hidden files and folders and Markdown files
// (a folder's README) skipped.
func replayFiles(paths []string) ([]replayFile, error) {
	var out []replayFile
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, replayFile{path: p, rel: filepath.Base(p)})
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && path != p {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || strings.EqualFold(filepath.Ext(d.Name()), ".md") {
				return nil
			}
			rel, _ := filepath.Rel(p, path)
			out = append(out, replayFile{path: path, rel: filepath.ToSlash(rel)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("replay: walk %s: %w", p, err)
		}
	}
	return out, nil
}

type replayer struct {
	opts   ReplayOptions
	fn     Function
	target string
	client *http.Client
	rep    *ReplayReport

	// The Event Hubs batch being filled.
	events  []string // event bodies
	files   []string
	records int
	seq     int64 // next sequence number
	offset  int64 // next offset
}

func (r *replayer) defaults() {
	if r.opts.MaxEventBytes <= 0 {
		r.opts.MaxEventBytes = DefaultMaxEventBytes
	}
	if r.opts.MaxBatchEvents <= 0 {
		r.opts.MaxBatchEvents = DefaultMaxBatchEvents
	}
	p := &r.opts.Partition
	if p.FullyQualifiedNamespace == "" {
		p.FullyQualifiedNamespace = "azdetect-replay.servicebus.windows.net"
	}
	if p.EventHubName == "" {
		p.EventHubName = "azure-logs"
	}
	if p.ConsumerGroup == "" {
		p.ConsumerGroup = "$Default"
	}
	if p.PartitionID == "" {
		p.PartitionID = "0"
	}
	if r.opts.Container == "" {
		r.opts.Container = "insights-activity-logs"
	}
	r.client = r.opts.Client
	if r.client == nil {
		r.client = http.DefaultClient
	}
}

// addFile frames the records of one file into events and posts full
// batches.
func (r *replayer) addFile(ctx context.Context, path string, data []byte) error {
	data, err := gunzipIfGzip(data)
	if err != nil {
		return fmt.Errorf("replay: %s: %w", path, err)
	}
	pieces := splitRecords(data)
	r.rep.Records += len(pieces)
	bodies := frameEvents(pieces, r.opts.MaxEventBytes)
	if len(bodies) == 0 {
		return nil
	}
	n := len(pieces)
	for i, b := range bodies {
		r.events = append(r.events, b)
		if len(r.files) == 0 || r.files[len(r.files)-1] != path {
			r.files = append(r.files, path)
		}
		if i == 0 {
			r.records += n // counted with the batch holding the file's first event
		}
		if len(r.events) >= r.opts.MaxBatchEvents {
			if err := r.flushBatch(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushBatch posts the pending events as one Event Hubs invocation.
func (r *replayer) flushBatch(ctx context.Context) error {
	if len(r.events) == 0 {
		return nil
	}
	n := len(r.events)
	data, meta, err := eventHubValues(r.fn, r.opts.Partition, r.seq, r.offset, r.events, time.Now().UTC())
	if err != nil {
		return err
	}
	for _, b := range r.events {
		r.seq++
		r.offset += int64(len(b))
	}
	inv := ReplayInvocation{Events: n, Records: r.records, Files: r.files}
	r.events, r.files, r.records = nil, nil, 0
	return r.post(ctx, inv, data, meta)
}

// EventHubRequest is the body of an Event Hubs trigger invocation of fn
// as the host posts it (reference/functions-contract.md §2.1): the event
// bodies under Data.<binding>, encoded by fn's dataType, and the batch
// metadata double-encoded, sequence numbers from seq and offsets from
// offset on, enqueued at now. Replay posts these; benchmarks post them to
// serve as the host would.
func EventHubRequest(fn Function, part PartitionContext, seq, offset int64, bodies []string, now time.Time) ([]byte, error) {
	data, meta, err := eventHubValues(fn, part, seq, offset, bodies, now)
	if err != nil {
		return nil, err
	}
	return []byte(jsonText(map[string]any{"Data": data, "Metadata": meta})), nil
}

// eventHubValues are the Data and Metadata of an Event Hubs invocation
// (see EventHubRequest).
func eventHubValues(fn Function, part PartitionContext, seq, offset int64, events []string, now time.Time) (data, meta map[string]any, err error) {
	n := len(events)
	enq := now.UTC().Format("2006-01-02T15:04:05.9999999") // .NET DateTime: no zone suffix
	seqs := make([]int64, n)
	offs := make([]string, n)
	times := make([]string, n)
	keys := make([]*string, n)
	props := make([]map[string]any, n)
	sysProps := make([]map[string]any, n)
	bodies := make([]string, n)
	for i, body := range events {
		seqs[i], offs[i], times[i] = seq, strconv.FormatInt(offset, 10), enq
		props[i] = map[string]any{}
		sysProps[i] = map[string]any{
			"SequenceNumber":  seq,
			"Offset":          offset,
			"OffsetString":    offs[i],
			"PartitionKey":    nil,
			"EnqueuedTimeUtc": enq,
		}
		switch strings.ToLower(fn.DataType) {
		case DataTypeBinary:
			bodies[i] = base64.StdEncoding.EncodeToString([]byte(body))
		default:
			bodies[i] = body
		}
		seq++
		offset += int64(len(body))
	}
	if fn.DataType == "" {
		// No dataType: the host sends the bodies parsed, as objects.
		objs := make([]json.RawMessage, n)
		for i, b := range events {
			if !json.Valid([]byte(b)) {
				return nil, nil, fmt.Errorf("replay: function %s has no dataType, so the host parses each event as JSON and would fail this batch: event %d is not JSON", fn.Name, i)
			}
			objs[i] = json.RawMessage(b)
		}
		data = map[string]any{fn.Binding: jsonText(objs)}
	} else {
		data = map[string]any{fn.Binding: jsonText(bodies)}
	}
	meta = map[string]any{
		metaPartitionContext:      part,
		metaSequenceNumberArray:   jsonText(seqs),
		metaOffsetArray:           jsonText(offs),
		metaOffsetStringArray:     jsonText(offs),
		metaEnqueuedTimeUtcArray:  jsonText(times),
		metaPartitionKeyArray:     jsonText(keys),
		metaPropertiesArray:       jsonText(props),
		metaSystemPropertiesArray: jsonText(sysProps),
		"sys":                     sysMeta(fn, now),
	}
	return data, meta, nil
}

// blob posts one file as a blob trigger invocation: the bytes as stored
// (base64), the URI and properties in metadata.
func (r *replayer) blob(ctx context.Context, f replayFile, data []byte) error {
	now := time.Now().UTC()
	name := f.rel
	u := url.URL{Scheme: "https", Host: replayAccount + ".blob.core.windows.net", Path: "/" + r.opts.Container + "/" + name}
	modified := now.Format("2006-01-02T15:04:05+00:00")
	if fi, err := os.Stat(f.path); err == nil {
		modified = fi.ModTime().UTC().Format("2006-01-02T15:04:05+00:00")
	}
	dataV := map[string]any{r.fn.Binding: base64.StdEncoding.EncodeToString(data)}
	meta := map[string]any{
		metaURI: jsonText(u.String()),
		metaProperties: map[string]any{
			"LastModified":  modified,
			"ContentLength": len(data),
			"BlobType":      0, // a replayed file is uploaded with Put Blob: a block blob
		},
		"Metadata": map[string]any{},
		"name":     jsonText(name),
		"sys":      r.sys(now),
	}
	// The records the blob holds, counted with replay's framing: the
	// handler reads the bytes itself, so this is what it should find.
	records := 0
	if plain, err := gunzipIfGzip(data); err == nil {
		records = len(splitRecords(plain))
	}
	r.rep.Records += records
	return r.post(ctx, ReplayInvocation{Files: []string{f.path}, Records: records}, dataV, meta)
}

// timer posts one timer tick.
func (r *replayer) timer(ctx context.Context) error {
	now := time.Now().UTC().Truncate(time.Minute)
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.9999999+00:00") }
	data := map[string]any{r.fn.Binding: map[string]any{
		"Schedule": map[string]any{"AdjustForDST": true},
		"ScheduleStatus": map[string]any{
			"Last": ts(now.Add(-5 * time.Minute)), "Next": ts(now.Add(5 * time.Minute)), "LastUpdated": ts(now),
		},
		"IsPastDue": false,
	}}
	return r.post(ctx, ReplayInvocation{}, data, map[string]any{"sys": r.sys(time.Now().UTC())})
}

func (r *replayer) sys(now time.Time) map[string]any { return sysMeta(r.fn, now) }

// sysMeta is the "sys" metadata the host adds to every invocation of fn.
func sysMeta(fn Function, now time.Time) map[string]any {
	return map[string]any{
		"MethodName": fn.Name,
		"UtcNow":     now.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"RandGuid":   newGUID(),
	}
}

// post sends one invocation and records the answer. A non-2xx answer, or
// one the host would refuse (not JSON, empty), is an error.
func (r *replayer) post(ctx context.Context, inv ReplayInvocation, data, meta map[string]any) error {
	body := []byte(jsonText(map[string]any{"Data": data, "Metadata": meta}))
	inv.Function = r.fn.Name
	inv.InvocationID = newGUID()
	inv.RequestBytes = len(body)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", inv.InvocationID)
	req.Header.Set("X-Azure-Functions-HostVersion", ReplayHostVersion)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+ReplayHostVersion)

	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("replay: %s invocation %s: %w", inv.Function, inv.InvocationID, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	inv.Duration = time.Since(start)
	inv.Status = resp.StatusCode
	if err != nil {
		return fmt.Errorf("replay: %s invocation %s: read answer: %w", inv.Function, inv.InvocationID, err)
	}
	r.rep.Invocations = append(r.rep.Invocations, inv)
	last := &r.rep.Invocations[len(r.rep.Invocations)-1]
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("replay: %s invocation %s: HTTP %d: %s", inv.Function, inv.InvocationID, resp.StatusCode, head(answer, 200))
	}
	// What the host would refuse (reference/functions-contract.md §3).
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/json" {
		return fmt.Errorf("replay: %s invocation %s: HTTP %d with Content-Type %q: the host refuses anything but application/json",
			inv.Function, inv.InvocationID, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(bytes.TrimSpace(answer)) == 0 {
		return fmt.Errorf("replay: %s invocation %s: HTTP %d with an empty body: the host would wait until functionTimeout",
			inv.Function, inv.InvocationID, resp.StatusCode)
	}
	logs, err := checkAnswer(answer)
	if err != nil {
		return fmt.Errorf("replay: %s invocation %s: %w: %s", inv.Function, inv.InvocationID, err, head(answer, 200))
	}
	last.Logs = logs
	return nil
}

// checkAnswer checks the shape of a 2xx body as the host reads it
// (contract §3): a JSON object whose Outputs (an object), Logs (strings)
// and ReturnValue are matched without case, all optional. azdetect's
// functions have no output binding, so ReturnValue must stay null: the
// host would spread an object into the outputs.
func checkAnswer(answer []byte) ([]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(answer, &top); err != nil {
		return nil, fmt.Errorf("answer is not a JSON object: %w", err)
	}
	var logs []string
	for k, v := range top {
		null := string(bytes.TrimSpace(v)) == "null"
		switch strings.ToLower(k) {
		case "outputs":
			var o map[string]json.RawMessage
			if !null && json.Unmarshal(v, &o) != nil {
				return nil, fmt.Errorf("answer's %s is not an object of output binding names", k)
			}
			if len(o) > 0 {
				return nil, fmt.Errorf("answer's %s names %d output binding(s), but azdetect's functions have none", k, len(o))
			}
		case "logs":
			if !null && json.Unmarshal(v, &logs) != nil {
				return nil, fmt.Errorf("answer's %s is not an array of strings", k)
			}
		case "returnvalue":
			if !null {
				return nil, fmt.Errorf("answer's %s is not null: with no $return binding the host would spread it into the outputs", k)
			}
		}
	}
	return logs, nil
}

func head(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.TrimSpace(string(b))
}

// jsonText encodes v as the host's serializer does (no HTML escaping).
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("invoke: encode %T: %v", v, err)) // only our own maps and slices get here
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// gunzipIfGzip decompresses data when it starts with gzip's magic bytes.
func gunzipIfGzip(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out, nil
}

// piece is one record of a file: a JSON value, or a line that is not JSON
// (Storage Analytics lines, a broken record), passed on as text for the
// pipeline to recognise or report.
type piece struct {
	json []byte
	text []byte
}

// splitRecords is replay's minimal framing: a stream of JSON values
// (JSON Lines, one {"records":[...]} document, a bare array, or several of
// those) gives their records; a file that is not such a stream is read line
// by line, each line a JSON value or a text line.
func splitRecords(data []byte) []piece {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	if out, ok := splitJSONStream(data); ok {
		return out
	}
	var out []piece
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if json.Valid(line) {
			out = appendValue(out, bytes.TrimSpace(line))
			continue
		}
		out = append(out, piece{text: line})
	}
	return out
}

func splitJSONStream(data []byte) ([]piece, bool) {
	var out []piece
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, true
		}
		if err != nil {
			return nil, false
		}
		out = appendValue(out, v)
	}
}

// appendValue adds the records of one top-level JSON value: the elements
// of an array or of a {"records":[...]} envelope, else the value itself.
func appendValue(out []piece, v []byte) []piece {
	v = bytes.TrimSpace(v)
	var elems []json.RawMessage
	switch {
	case len(v) > 0 && v[0] == '[':
		_ = json.Unmarshal(v, &elems)
	case len(v) > 0 && v[0] == '{' && bytes.Contains(v, []byte(`"records"`)):
		var env map[string]json.RawMessage
		if json.Unmarshal(v, &env) == nil {
			if recs, ok := env["records"]; ok && len(env) == 1 && json.Unmarshal(recs, &elems) == nil {
				break
			}
		}
		elems = nil
		return append(out, piece{json: v})
	default:
		return append(out, piece{json: v})
	}
	for _, e := range elems {
		out = append(out, piece{json: bytes.TrimSpace(e)})
	}
	return out
}

// frameEvents packs records into Event Hub bodies of at most maxBytes:
// JSON records into {"records":[...]} envelopes, runs of text lines into
// newline-joined bodies. A single record larger than maxBytes gets an
// event of its own (Event Hubs would refuse it; the handler should not).
func frameEvents(pieces []piece, maxBytes int) []string {
	const open, closing = `{"records":[`, `]}`
	var out []string
	var cur bytes.Buffer
	kind := 0 // 0 none, 1 records, 2 text
	flush := func() {
		switch kind {
		case 1:
			cur.WriteString(closing)
			out = append(out, cur.String())
		case 2:
			out = append(out, cur.String())
		}
		cur.Reset()
		kind = 0
	}
	for _, p := range pieces {
		if p.json != nil {
			if kind == 1 && cur.Len()+1+len(p.json)+len(closing) > maxBytes {
				flush()
			}
			if kind == 2 {
				flush()
			}
			if kind == 0 {
				cur.WriteString(open)
				kind = 1
			} else {
				cur.WriteByte(',')
			}
			cur.Write(p.json)
			continue
		}
		if kind == 2 && cur.Len()+1+len(p.text) > maxBytes {
			flush()
		}
		if kind == 1 {
			flush()
		}
		if kind == 2 {
			cur.WriteByte('\n')
		}
		kind = 2
		cur.Write(p.text)
	}
	flush()
	return out
}
