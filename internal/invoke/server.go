package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/pipeline"
)

// Trigger types azdetect serves (function.json "type" of the input binding).
const (
	TriggerEventHub = "eventHubTrigger"
	TriggerBlob     = "blobTrigger"
	TriggerTimer    = "timerTrigger"
)

// Defaults of ServerOptions.
const (
	// DefaultMaxBodyBytes bounds one invocation body. The host sets no
	// limit; 100 Event Hub events of 1 MB, double-encoded, stay below it,
	// and a bigger body gets 413 instead of exhausting memory.
	DefaultMaxBodyBytes int64 = 512 << 20
	// DefaultShutdownGrace is how long Serve waits for running invocations.
	DefaultShutdownGrace = 25 * time.Second
	// DefaultMaxConcurrent is how many invocations run at once. The host
	// sends one at a time per Event Hub partition; an instance serves a
	// few partitions, and each invocation may hold a body of MaxBodyBytes.
	DefaultMaxConcurrent = 4

	// MinBodyRate is the slowest a body may arrive once BodyGrace has
	// passed: the host sends over loopback at hundreds of MB/s, so the
	// largest body (MaxBodyBytes) arrives within BodyGrace plus
	// MaxBodyBytes/MinBodyRate, while a body sent a byte a second is cut
	// off after BodyGrace.
	MinBodyRate = 1 << 20 // bytes per second
	// BodyGrace is how long a body may take before MinBodyRate applies.
	BodyGrace = 10 * time.Second
	// IdleTimeout closes keep-alive connections idle that long.
	IdleTimeout = 2 * time.Minute

	maxBodySetting       = "AZDETECT_MAX_BODY_BYTES"
	maxConcurrentSetting = "AZDETECT_MAX_CONCURRENT_INVOCATIONS"
)

// Processor runs one batch of inputs: pipeline.Pipeline implements it. An
// error fails the invocation (HTTP 500) so that the host retries the batch.
// An Event Hubs input's body is valid until Process returns: the server
// decodes the next invocation's bodies into the same memory (Request.text),
// so what a Processor keeps of a body it copies (the pipeline does:
// source.Records).
type Processor interface {
	Process(ctx context.Context, inputs []pipeline.Input) (pipeline.Report, error)
}

// Maintainer does the timer function's work (the archive sweep). It is
// optional: without one the timer just answers with a log line.
type Maintainer interface {
	Maintain(ctx context.Context) (summary string, err error)
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Addr is host:port to listen on; the host must be a loopback address
	// (the Functions host always calls 127.0.0.1). Port 0 picks one.
	Addr string
	// FunctionsDir holds one folder per function with its function.json;
	// each folder name is a route.
	FunctionsDir string
	// Processor runs the batches. It may be nil when the server is built
	// before the pipeline (listen first, initialise after): then call
	// Attach; invocations that arrive earlier wait for it.
	Processor  Processor
	Maintainer Maintainer // optional
	// MaxBodyBytes bounds an invocation body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ShutdownGrace is how long Serve waits for running invocations once
	// its context is cancelled; 0 means DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// MaxConcurrent caps the invocations running at once (reading their
	// body included); one more is answered 503 at once, before its body is
	// read, so that the host retries it. 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// BodyGrace is how long a body may take before MinBodyRate applies;
	// 0 means BodyGrace (tests shorten it).
	BodyGrace time.Duration
	// Logger is the server's logger; the caller names the component.
	// Each invocation adds function, invocation_id and partition_id and
	// puts the result on the context the Processor gets.
	Logger zerolog.Logger
}

// Function is one function folder: its name (the route), the trigger type
// and binding name of its first input binding, and the binding's dataType.
type Function struct {
	Name     string
	Trigger  string
	Binding  string
	DataType string
}

// Server answers the Functions host on loopback: GET / and /healthz for
// readiness, POST /<function> for invocations.
type Server struct {
	opts  ServerOptions
	log   zerolog.Logger
	funcs map[string]Function
	names []string

	attachOnce sync.Once
	ready      chan struct{} // closed by Attach
	proc       Processor
	maint      Maintainer

	slots  chan struct{} // one value per running invocation
	bodies spares        // request body buffers to read into
	texts  spares        // buffers to decode Event Hub bodies into (Request.text)

	mu      sync.Mutex
	ln      net.Listener
	closing chan struct{} // closed when shutdown starts
}

// NewServer checks the options and reads the function folders. It does no
// network I/O.
func NewServer(opts ServerOptions) (*Server, error) {
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("%s=%d: must not be negative", maxBodySetting, opts.MaxBodyBytes)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.MaxConcurrent < 0 {
		return nil, fmt.Errorf("%s=%d: must not be negative", maxConcurrentSetting, opts.MaxConcurrent)
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.BodyGrace <= 0 {
		opts.BodyGrace = BodyGrace
	}
	fns, err := LoadFunctions(opts.FunctionsDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		funcs:   make(map[string]Function, len(fns)),
		ready:   make(chan struct{}),
		closing: make(chan struct{}),
		slots:   make(chan struct{}, opts.MaxConcurrent),
		bodies:  newSpares(),
		texts:   newSpares(),
	}
	for _, fn := range fns {
		s.funcs[fn.Name] = fn
		s.names = append(s.names, fn.Name)
	}
	if opts.Processor != nil {
		s.Attach(opts.Processor, opts.Maintainer)
	}
	return s, nil
}

// Attach hands the server its processor and maintainer (m may be nil) once
// they are built. Only the first call counts.
func (s *Server) Attach(p Processor, m Maintainer) {
	if p == nil {
		return
	}
	s.attachOnce.Do(func() {
		s.proc, s.maint = p, m
		close(s.ready)
	})
}

// Functions lists the functions served, by name.
func (s *Server) Functions() []Function {
	out := make([]Function, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.funcs[n])
	}
	return out
}

// checkLoopback refuses listen addresses the world could reach.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: not a loopback address; the handler listens on 127.0.0.1 only (the Functions host always calls 127.0.0.1)", addr)
	}
	return nil
}

// LoadFunctions reads <dir>/*/function.json, sorted by name.
func LoadFunctions(dir string) ([]Function, error) {
	if dir == "" {
		return nil, errors.New("functions folder is not set (AZDETECT_FUNCTIONS_DIR)")
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read functions folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("functions folder %q is not a folder", dir)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*", "function.json"))
	if err != nil {
		return nil, fmt.Errorf("list functions in %q: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("functions folder %q holds no */function.json", dir)
	}
	slices.Sort(paths)
	fns := make([]Function, 0, len(paths))
	for _, p := range paths {
		fn, err := readFunction(p)
		if err != nil {
			return nil, err
		}
		fns = append(fns, fn)
	}
	return fns, nil
}

func readFunction(path string) (Function, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Function{}, fmt.Errorf("read function: %w", err)
	}
	var doc struct {
		Bindings []struct {
			Type      string `json:"type"`
			Name      string `json:"name"`
			Direction string `json:"direction"`
			DataType  string `json:"dataType"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Function{}, fmt.Errorf("read function %s: %w", path, err)
	}
	fn := Function{Name: filepath.Base(filepath.Dir(path))}
	for _, bd := range doc.Bindings {
		if !strings.EqualFold(bd.Direction, "in") {
			continue
		}
		if bd.Name == "" {
			return Function{}, fmt.Errorf("read function %s: input binding %q has no name", path, bd.Type)
		}
		fn.Trigger, fn.Binding, fn.DataType = canonicalTrigger(bd.Type), bd.Name, bd.DataType
		return fn, nil
	}
	return Function{}, fmt.Errorf("read function %s: no binding with direction \"in\"", path)
}

func canonicalTrigger(t string) string {
	for _, known := range []string{TriggerEventHub, TriggerBlob, TriggerTimer} {
		if strings.EqualFold(t, known) {
			return known
		}
	}
	return t
}

// Listen binds the listen address (once) and returns the bound address;
// Serve calls it when it was not called before. Tests use it to learn
// the port picked for ":0".
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	if err := checkLoopback(s.opts.Addr); err != nil {
		return nil, err
	}
	addr := s.opts.Addr
	if host, port, _ := net.SplitHostPort(addr); strings.EqualFold(host, "localhost") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve answers on the listen address until ctx is cancelled, then stops
// accepting, waits up to the grace period for running invocations and
// returns nil; it returns an error when invocations were still running
// at the end of the grace period, or when serving fails.
func (s *Server) Serve(ctx context.Context) error {
	addr, err := s.Listen()
	if err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()

	// Invocations keep running when ctx is cancelled: shutdown waits for
	// them instead. The base context still carries ctx's values (logger).
	base := context.WithoutCancel(ctx)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		// A backstop: each body read gets its own deadline from
		// MinBodyRate (bodyReader), within this.
		ReadTimeout: s.readTimeout(),
		IdleTimeout: IdleTimeout,
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    stdlog.New(s.log.With().Str("level", "warn").Logger(), "", 0),
	}
	s.log.Info().Str("addr", addr.String()).Strs("functions", s.names).
		Int64("max_body_bytes", s.opts.MaxBodyBytes).Int("max_concurrent", s.opts.MaxConcurrent).
		Dur("read_timeout", s.readTimeout()).Msg("listening")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}

	s.mu.Lock()
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	s.log.Info().Dur("grace", s.opts.ShutdownGrace).Msg("shutting down: waiting for running invocations")
	sctx, cancel := context.WithTimeout(base, s.opts.ShutdownGrace)
	defer cancel()
	// Invocations still reading their body stop at once (closing) and
	// answer 503: nothing was done, and the host sends them again.
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("shut down: invocations still running after %s: %w", s.opts.ShutdownGrace, err)
	}
	<-errc
	s.log.Info().Msg("shut down")
	return nil
}

// ServeHTTP routes: GET / and /healthz answer at once; POST /<function>
// runs an invocation. Every answer is JSON with a body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/" || path == "/healthz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "use GET on "+path)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	name := strings.TrimPrefix(path, "/")
	fn, ok := s.funcs[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no function %q here; functions: %s", name, strings.Join(s.names, ", ")))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "invocations are POST /"+fn.Name)
		return
	}
	s.invoke(w, r, fn)
}

// invoke runs one invocation of fn.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, fn Function) {
	start := time.Now()
	lc := s.log.With().Str("function", fn.Name)
	if id := r.Header.Get("X-Azure-Functions-InvocationId"); id != "" {
		lc = lc.Str("invocation_id", id)
	}
	log := lc.Logger()
	status := http.StatusOK
	defer func() {
		if v := recover(); v != nil {
			log.Error().Interface("panic", v).Bytes("stack", debug.Stack()).Msg("invocation panicked")
			status = http.StatusInternalServerError
			writeError(w, status, fmt.Sprintf("%s: internal error: %v", fn.Name, v))
		}
		ev := log.Info()
		if status >= 400 {
			ev = log.Warn()
		}
		ev.Int("status", status).Int64("duration_ms", time.Since(start).Milliseconds()).Msg("invocation answered")
	}()
	fail := func(code int, msg string) {
		status = code
		writeError(w, code, msg)
	}

	switch fn.Trigger {
	case TriggerEventHub, TriggerBlob, TriggerTimer:
	default:
		fail(http.StatusNotImplemented, fmt.Sprintf("function %s: trigger type %q is not supported by azdetect (supported: %s, %s, %s)",
			fn.Name, fn.Trigger, TriggerEventHub, TriggerBlob, TriggerTimer))
		return
	}

	// Over the cap, or shutting down: answer before reading the body, so
	// that a flood costs neither memory nor time; the host retries.
	select {
	case <-s.closing:
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, fn.Name+": handler shutting down; send it again")
		return
	default:
	}
	select {
	case <-s.timerPass(fn):
		// The timer carries no body and comes once in five minutes: a
		// busy instance still does its maintenance.
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, fmt.Sprintf("%s: %d invocations already running (%s); send it again",
			fn.Name, s.opts.MaxConcurrent, maxConcurrentSetting))
		return
	}

	req, err := s.readRequest(w, r)
	if err != nil {
		if errors.Is(err, errBodyTooSlow) {
			fail(http.StatusRequestTimeout, fn.Name+": "+err.Error())
			return
		}
		if errors.Is(err, errShuttingDown) {
			w.Header().Set("Retry-After", "1")
			fail(http.StatusServiceUnavailable, fn.Name+": "+err.Error())
			return
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
			writeJSON(w, status, ErrorBody{
				Status:  status,
				Error:   fmt.Sprintf("%s: request body exceeds %d bytes; raise %s to accept larger batches or blobs", fn.Name, tooBig.Limit, maxBodySetting),
				Limit:   tooBig.Limit,
				Setting: maxBodySetting,
			})
			return
		}
		// Not the host's shape, or the body could not be read.
		fail(http.StatusBadRequest, fn.Name+": "+err.Error())
		return
	}
	defer s.release(&req) // (again: release is idempotent) on the paths that return early
	if rc, ok := req.RetryContext(); ok {
		log = log.With().Int("retry_count", rc.RetryCount).Logger()
	}

	var inputs []pipeline.Input
	var timer TimerInfo
	var blob Blob
	switch fn.Trigger {
	case TriggerEventHub:
		batch, err := DecodeEventHub(req, fn.Binding, fn.DataType)
		if err != nil {
			fail(http.StatusBadRequest, fn.Name+": "+err.Error())
			return
		}
		log = log.With().Str("partition_id", batch.Partition.PartitionID).Int("events", len(batch.Events)).Logger()
		inputs = batch.Inputs()
	case TriggerBlob:
		if blob, err = DecodeBlob(req, fn.Binding); err != nil {
			fail(http.StatusBadRequest, fn.Name+": "+err.Error())
			return
		}
		log = log.With().Str("origin", blob.Origin(fn.Binding)).Int("bytes", len(blob.Body)).Logger()
		inputs = blob.Inputs(fn.Binding)
	case TriggerTimer:
		if timer, err = DecodeTimer(req, fn.Binding); err != nil {
			fail(http.StatusBadRequest, fn.Name+": "+err.Error())
			return
		}
	}
	// The event bodies are slices of the request's text: kept for the
	// next invocation once the pipeline returned (not when it panicked:
	// a goroutine of its may still read them).
	text := req.text
	s.release(&req) // decoded: nothing below reads the request's bytes
	log.Debug().Msg("invocation received")

	// Wait for Attach when the pipeline is still being built.
	select {
	case <-s.ready:
	case <-r.Context().Done():
		fail(http.StatusServiceUnavailable, fn.Name+": request cancelled before the handler was ready")
		return
	case <-s.closing:
		fail(http.StatusServiceUnavailable, fn.Name+": handler shutting down before it was ready")
		return
	}
	ctx := log.WithContext(r.Context())

	if fn.Trigger == TriggerTimer {
		line := fmt.Sprintf("%s: timer fired (past due: %t); no maintenance configured", fn.Name, timer.IsPastDue)
		if s.maint != nil {
			summary, err := s.maint.Maintain(ctx)
			if err != nil {
				log.Error().Err(err).Msg("maintenance failed")
				fail(http.StatusInternalServerError, fn.Name+": "+err.Error())
				return
			}
			line = fmt.Sprintf("%s: %s", fn.Name, summary)
		}
		writeJSON(w, http.StatusOK, NewResponse(line))
		return
	}

	var rep pipeline.Report
	if bp, ok := s.proc.(BlobProcessor); ok && fn.Trigger == TriggerBlob {
		rep, err = bp.ProcessBlob(ctx, blob, fn.Binding)
	} else {
		rep, err = s.proc.Process(ctx, inputs)
	}
	s.texts.put(text) // the pipeline copies what it keeps of a body (source.Records)
	if err != nil {
		log.Error().Err(err).Int("records", rep.Records).Msg("invocation failed; the host retries the batch")
		fail(http.StatusInternalServerError, fn.Name+": "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, NewResponse(SummaryLogs(fn.Name, rep)...))
}

// timerPass is a closed channel for timer functions (never capped), nil
// (never ready) for the others.
func (s *Server) timerPass(fn Function) <-chan struct{} {
	if fn.Trigger == TriggerTimer {
		return closedChan
	}
	return nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// readTimeout is the longest a request may take to arrive: the largest
// body at MinBodyRate, after BodyGrace.
func (s *Server) readTimeout() time.Duration {
	return s.opts.BodyGrace + time.Duration(s.opts.MaxBodyBytes/MinBodyRate+1)*time.Second
}

// readRequest reads and decodes an invocation body of at most MaxBodyBytes.
// A declared Content-Length over the limit is refused before any byte is
// read. The buffer grows as bytes arrive, never past the declared length,
// so a request that declares a large body and sends little costs little.
// A body slower than MinBodyRate (after BodyGrace) fails with
// errBodyTooSlow; one still arriving when shutdown starts, with
// errShuttingDown.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (Request, error) {
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return Request{}, &http.MaxBytesError{Limit: limit}
	}
	br := &bodyReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w),
		start: time.Now(), grace: s.opts.BodyGrace}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.closing:
			br.abort()
		case <-stop:
		}
	}()
	buf, err := readBodyInto(s.bodies.get(), br, r.ContentLength, true)
	br.finish()
	if err != nil {
		return Request{}, fmt.Errorf("read request body: %w", err)
	}
	text := s.texts.get()
	req, err := parseRequestText(buf, text)
	if req.text == nil {
		s.texts.put(text) // not decoded into
	}
	req.buf = buf
	return req, err
}

// release hands the request's body buffer back for the next invocation,
// once what was decoded from it no longer needs it: nothing decoded
// (event bodies, blob bytes, metadata values) shares its memory.
func (s *Server) release(req *Request) {
	s.bodies.put(req.buf)
	*req = Request{}
}

// maxPooledBody is the largest buffer kept for the next invocation: a
// kept buffer is never collected, and a 1,000-record batch is 2.5 MB.
const maxPooledBody = 16 << 20

// spares keeps a few request body buffers for the next invocations. A
// sync.Pool was emptied by the collections each batch runs (the second
// drops what it holds), so that a batch's body (2.5 MB for 1,000 records)
// was allocated and collected afresh most times.
type spares chan []byte

// maxSpares is how many buffers are kept: with more invocations at once
// (DefaultMaxConcurrent) the rest are allocated.
const maxSpares = 2

func newSpares() spares { return make(spares, maxSpares) }

// get returns a kept buffer, empty, or nil.
func (s spares) get() []byte {
	select {
	case b := <-s:
		return b[:0]
	default:
		return nil
	}
}

// put keeps b for the next get, unless it is larger than maxPooledBody or
// enough are kept.
func (s spares) put(b []byte) {
	if b == nil || cap(b) > maxPooledBody {
		return
	}
	select {
	case s <- b[:0]:
	default:
	}
}

// presizeBytes is the largest declared length readBody allocates at once,
// after the first bytes: more than a batch of 100 Event Hub events of
// ~100 KB, double-encoded.
const presizeBytes = 32 << 20

var (
	errBodyTooSlow  = fmt.Errorf("request body arrived slower than %d bytes/s after its first seconds", MinBodyRate)
	errShuttingDown = errors.New("handler shutting down while the request body arrived; send it again")
)

// readBody reads r to its end into a buffer that starts small and grows
// as bytes arrive, capped at declared when it is known (>= 0): once the
// first 64 KB arrived, at once to the declared length when that is at most
// presizeBytes (a batch is copied once, not at each doubling), else by
// doubling. A request that declares a large body and sends little costs
// little.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	return readBodyInto(nil, r, declared, false)
}

// readBodyInto is readBody into buf's memory, when it is large enough.
// With spare, a buffer grown to the declared length has a quarter more
// room, as the decoded text's has (hostStringsInto): kept for the next
// invocation (spares), it then holds the next batches, whose sizes vary,
// where one of exactly this batch's length was replaced by a new one
// (faulted in afresh: issue 12) each time a batch came larger.
func readBodyInto(buf []byte, r io.Reader, declared int64, spare bool) ([]byte, error) {
	const first = 64 << 10
	size := int64(first)
	if declared >= 0 && declared < size {
		size = declared + 1 // +1: see the end of the body without growing
	}
	if declared >= 0 && declared < presizeBytes && int64(cap(buf)) > declared {
		buf = buf[:0]
	} else {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			next := 2 * int64(cap(buf))
			if declared >= 0 && declared < presizeBytes {
				next = declared + 1
				if spare {
					next += declared / 4
				}
			} else if declared >= 0 && next > declared+1 {
				next = declared + 1
			}
			if next <= int64(cap(buf)) {
				next = int64(cap(buf)) + first
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// bodyReader sets a read deadline before each read: the time by which the
// next byte must arrive for the body to keep MinBodyRate after BodyGrace.
// abort ends a read in progress (shutdown).
type bodyReader struct {
	r     io.Reader
	rc    *http.ResponseController
	start time.Time
	grace time.Duration

	mu      sync.Mutex
	n       int64
	aborted bool
	done    bool // read to its end: abort must not touch the connection
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.aborted {
		b.mu.Unlock()
		return 0, errShuttingDown
	}
	due := b.start.Add(b.grace + time.Duration(float64(b.n+1)/MinBodyRate*float64(time.Second)))
	_ = b.rc.SetReadDeadline(due)
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		b.done = true
	case err == nil:
	case b.aborted:
		err = errShuttingDown
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errBodyTooSlow
	}
	return n, err
}

// abort ends the body's read in progress. Once the body was read to its
// end the server reads the connection in the background (a closed client
// cancels the request's context), so a deadline then would cancel an
// invocation that is running: abort does nothing.
func (b *bodyReader) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.aborted = true
	_ = b.rc.SetReadDeadline(time.Now())
}

func (b *bodyReader) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
}
