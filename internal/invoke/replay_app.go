package invoke

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Host start-up constants (reference/functions-contract.md §1).
const (
	// DefaultStartTimeout is the host's InitializationTimeout: how long it
	// polls GET / before it gives up on the handler.
	DefaultStartTimeout = 30 * time.Second
	// readinessPoll is the host's interval between GET / polls.
	readinessPoll = 25 * time.Millisecond
	// stopGrace is how long ReplayApp waits after SIGTERM.
	stopGrace = 30 * time.Second
)

// Azure's log levels for handler output (Application Insights severity).
const (
	LevelInformation = "Information"
	LevelWarning     = "Warning"
	LevelError       = "Error"
)

// HostLevel is the level the Functions host gives one line of the
// handler's output (contract §1, WorkerProcess.ParseErrorMessageAndLog):
// stdout is Information; a stderr line is Warning when it holds "warn",
// else Error when it holds "error", "fail", "severe" or "unhandled
// exception", else Information, all compared without case.
func HostLevel(stderr bool, line string) string {
	if !stderr {
		return LevelInformation
	}
	l := strings.ToLower(line)
	switch {
	case strings.Contains(l, "warn"):
		return LevelWarning
	case strings.Contains(l, "error"), strings.Contains(l, "fail"), strings.Contains(l, "severe"), strings.Contains(l, "unhandled exception"):
		return LevelError
	}
	return LevelInformation
}

// AppOptions configure ReplayApp.
type AppOptions struct {
	// Dir is the app root: the folder holding host.json (dist/app).
	Dir string
	// SettingsFile is a local.settings.json whose Values become the
	// handler's environment, as Core Tools does; empty means
	// <Dir>/local.settings.json when it exists.
	SettingsFile string
	// Function limits the run to one function; empty means every one.
	Function string
	// Paths are log files for the Event Hubs and blob functions; empty
	// means one built-in Activity Log record.
	Paths []string
	// Output receives each line the handler writes, prefixed with its
	// stream and the level the host gives it; nil discards them.
	Output io.Writer
	// StartTimeout bounds the wait for GET /; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
}

// AppLine is one line the handler wrote, with the level the host gives it.
type AppLine struct {
	Stderr bool
	Level  string
	Text   string
}

// AppReport is what ReplayApp found and did.
type AppReport struct {
	Executable  string
	Arguments   []string   // as host.json writes them: %SETTING% not expanded (a setting may be a secret)
	Functions   []Function // as the host finds them, sorted by name
	Invocations []ReplayInvocation
	Lines       []AppLine // the handler's output
	ExitCode    int       // after SIGTERM
}

// appFunction is one function folder with everything of its trigger
// binding the host reads.
type appFunction struct {
	Function
	binding map[string]any
}

// ReplayApp runs a staged app package the way the Functions host does: it
// reads host.json's customHandler and the function folders beside it
// (immediate subfolders with a function.json, nothing deeper), starts the
// executable with FUNCTIONS_CUSTOMHANDLER_PORT, FUNCTIONS_APP_ROOT_PATH and
// the local settings, waits for GET / to answer, sends every function the
// invocation its trigger implies and checks each answer against the
// contract. It stops the handler with SIGTERM at the end. The report holds
// what was done so far when it fails.
func ReplayApp(ctx context.Context, opts AppOptions) (AppReport, error) {
	var rep AppReport
	if opts.Dir == "" {
		return rep, errors.New("app: no app folder given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return rep, fmt.Errorf("app: %w", err)
	}
	settings, err := appSettings(dir, opts.SettingsFile)
	if err != nil {
		return rep, err
	}
	env := appEnv(settings)
	ch, err := readCustomHandler(dir, env)
	if err != nil {
		return rep, err
	}
	rep.Executable, rep.Arguments = ch.exe, ch.written
	fns, err := readAppFunctions(dir, env)
	if err != nil {
		return rep, err
	}
	for _, fn := range fns {
		rep.Functions = append(rep.Functions, fn.Function)
	}
	if opts.Function != "" {
		i := slices.IndexFunc(fns, func(f appFunction) bool { return f.Name == opts.Function })
		if i < 0 {
			return rep, fmt.Errorf("app: no function %q in %s (the host finds: %s)", opts.Function, dir, strings.Join(functionNames(fns), ", "))
		}
		fns = fns[i : i+1]
	}
	paths := opts.Paths
	if len(paths) == 0 {
		sample, err := sampleFile()
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(filepath.Dir(sample))
		paths = []string{sample}
	}

	h, err := startHandler(ctx, ch, dir, settings, opts)
	if err != nil {
		return rep, err
	}
	runErr := func() error {
		if err := h.waitReady(ctx, opts.StartTimeout); err != nil {
			return err
		}
		for _, fn := range fns {
			ro := ReplayOptions{URL: h.url, Function: fn.Name, FunctionsDir: dir}
			switch fn.Trigger {
			case TriggerEventHub:
				if c, _ := fn.binding["cardinality"].(string); !strings.EqualFold(c, "many") {
					return fmt.Errorf("app: function %s: eventHubTrigger without \"cardinality\": \"many\": the host would send one event per invocation, not the batch azdetect reads", fn.Name)
				}
				ro.Paths = paths
				ro.Partition.EventHubName, _ = fn.binding["eventHubName"].(string)
				ro.Partition.ConsumerGroup, _ = fn.binding["consumerGroup"].(string)
			case TriggerBlob:
				ro.Paths = paths
				ro.Container = blobContainer(fn.binding)
			case TriggerTimer:
			default:
				return fmt.Errorf("app: function %s: trigger type %q cannot be replayed", fn.Name, fn.Trigger)
			}
			r, err := Replay(ctx, ro)
			rep.Invocations = append(rep.Invocations, r.Invocations...)
			if err != nil {
				return err
			}
			if len(r.Invocations) == 0 {
				return fmt.Errorf("app: function %s: nothing was sent (no records in %s)", fn.Name, strings.Join(paths, ", "))
			}
		}
		return nil
	}()
	code, stopErr := h.stop()
	rep.ExitCode, rep.Lines = code, h.lines()
	if runErr != nil {
		return rep, h.withTail(runErr)
	}
	if stopErr != nil {
		return rep, h.withTail(stopErr)
	}
	return rep, nil
}

func functionNames(fns []appFunction) []string {
	out := make([]string, len(fns))
	for i, fn := range fns {
		out[i] = fn.Name
	}
	return out
}

// blobContainer is the container of a blob trigger's path.
func blobContainer(b map[string]any) string {
	p, _ := b["path"].(string)
	c, _, _ := strings.Cut(p, "/")
	return c
}

// appSettings reads the Values of a local.settings.json.
func appSettings(dir, file string) (map[string]string, error) {
	if file == "" {
		file = filepath.Join(dir, "local.settings.json")
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return map[string]string{}, nil
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("app: local settings: %w", err)
	}
	var doc struct {
		IsEncrypted bool
		Values      map[string]any
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("app: local settings %s: %w", file, err)
	}
	if doc.IsEncrypted {
		return nil, fmt.Errorf("app: local settings %s are encrypted (IsEncrypted: true): decrypt them with `func settings decrypt`", file)
	}
	out := make(map[string]string, len(doc.Values))
	for k, v := range doc.Values {
		switch v := v.(type) {
		case string:
			out[k] = v
		case nil:
		default:
			out[k] = strings.TrimSpace(string(mustJSON(v)))
		}
	}
	return out, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// appEnv is what %SETTING% references resolve against: the process
// environment with the local settings over it.
func appEnv(settings map[string]string) map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range settings {
		env[k] = v
	}
	return env
}

var settingRef = regexp.MustCompile(`%([^%\s]+)%`)

// expand replaces %NAME% with the setting's value; unresolved names are
// returned.
func expand(s string, env map[string]string) (string, []string) {
	var missing []string
	out := settingRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := env[name]; ok {
			return v
		}
		missing = append(missing, name)
		return m
	})
	return out, missing
}

type customHandler struct {
	exe     string   // absolute
	args    []string // %SETTING% expanded, for the process
	written []string // as host.json writes them, for reports (a setting may be a secret)
	workDir string
}

// readCustomHandler reads host.json's customHandler as the host does:
// workingDirectory relative to the app root (the app root when empty),
// defaultExecutablePath relative to it, arguments with %SETTING% expanded.
// It refuses an executable the host could not start on Azure's Linux
// workers.
func readCustomHandler(dir string, env map[string]string) (customHandler, error) {
	var ch customHandler
	b, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return ch, fmt.Errorf("app: %s is not an app root: %w", dir, err)
	}
	var host struct {
		CustomHandler *struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
				WorkingDirectory      string   `json:"workingDirectory"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		return ch, fmt.Errorf("app: %s: %w", filepath.Join(dir, "host.json"), err)
	}
	if host.CustomHandler == nil || host.CustomHandler.Description.DefaultExecutablePath == "" {
		return ch, fmt.Errorf("app: %s has no customHandler.description.defaultExecutablePath: the host would start no handler", filepath.Join(dir, "host.json"))
	}
	d := host.CustomHandler.Description
	ch.workDir = dir
	if d.WorkingDirectory != "" {
		ch.workDir = d.WorkingDirectory
		if !filepath.IsAbs(ch.workDir) {
			ch.workDir = filepath.Join(dir, ch.workDir)
		}
	}
	ch.exe = d.DefaultExecutablePath
	if !filepath.IsAbs(ch.exe) {
		ch.exe = filepath.Join(ch.workDir, ch.exe)
	}
	for _, a := range d.Arguments {
		v, missing := expand(a, env)
		if len(missing) > 0 {
			return ch, fmt.Errorf("app: host.json argument %q uses %%%s%%, which neither the local settings nor the environment set", a, missing[0])
		}
		ch.args = append(ch.args, v)
	}
	ch.written = d.Arguments
	if err := checkExecutable(dir, d.DefaultExecutablePath, ch.exe); err != nil {
		return ch, err
	}
	return ch, nil
}

// checkExecutable: the file host.json names exists, is executable, and is
// an ELF x86-64 binary (Azure's Linux workers).
func checkExecutable(dir, name, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		var others []string
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
					others = append(others, e.Name())
				}
			}
		}
		found := "no executable file"
		if len(others) > 0 {
			found = "executable files: " + strings.Join(others, ", ")
		}
		return fmt.Errorf("app: host.json's defaultExecutablePath is %q but %s does not exist (the app root holds %s): the host could not start the handler; build it under the name host.json gives (make package)",
			name, path, found)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("app: %s (host.json's defaultExecutablePath) is not an executable file (mode %s)", path, fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("app: %s is not a Linux ELF executable, which Azure's Linux workers need: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("app: %s is an ELF %s %s, not the x86-64 executable Azure's Linux workers run (GOOS=linux GOARCH=amd64)", path, f.Machine, f.Type)
	}
	return nil
}

// readAppFunctions lists the functions the host finds in dir, with their
// trigger bindings; %SETTING% references in a binding must resolve, as the
// host needs them to index the function.
func readAppFunctions(dir string, env map[string]string) ([]appFunction, error) {
	names, err := CheckAppRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	var out []appFunction
	for _, name := range names {
		path := filepath.Join(dir, name, "function.json")
		fn, err := readFunction(path)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		var doc struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("app: %s: %w", path, err)
		}
		af := appFunction{Function: fn}
		for _, bd := range doc.Bindings {
			if d, _ := bd["direction"].(string); !strings.EqualFold(d, "in") {
				continue
			}
			af.binding = map[string]any{}
			for k, v := range bd {
				if s, ok := v.(string); ok {
					var missing []string
					if v, missing = expand(s, env); len(missing) > 0 {
						return nil, fmt.Errorf("app: %s: %s %q uses %%%s%%, which neither the local settings nor the environment set: the host would not index the function", path, k, s, missing[0])
					}
				}
				af.binding[k] = v
			}
			break
		}
		out = append(out, af)
	}
	return out, nil
}

// sampleFile writes one Activity Log record as an archive blob would hold
// it, for functions run without log files.
func sampleFile() (string, error) {
	dir, err := os.MkdirTemp("", "azdetect-replay-")
	if err != nil {
		return "", fmt.Errorf("app: %w", err)
	}
	rec := fmt.Sprintf(`{"time":%q,"resourceId":"/SUBSCRIPTIONS/00000000-0000-4000-8000-000000000001/RESOURCEGROUPS/RG-REPLAY/PROVIDERS/MICROSOFT.RESOURCES/DEPLOYMENTS/REPLAY","operationName":"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE","category":"Administrative","resultType":"Success","resultSignature":"Succeeded.","callerIpAddress":"203.0.113.10","correlationId":"6a1f2c3d-0000-4000-8000-000000000001","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"replay@contoso.example"}},"level":"Information","properties":{"statusCode":"OK"}}`,
		time.Now().UTC().Format(time.RFC3339))
	path := filepath.Join(dir, "PT1H.json")
	if err := os.WriteFile(path, []byte(rec+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("app: %w", err)
	}
	return path, nil
}

// runningHandler is the handler process ReplayApp started.
type runningHandler struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit, once done

	mu  sync.Mutex
	out []AppLine
	wg  sync.WaitGroup
}

func startHandler(ctx context.Context, ch customHandler, dir string, settings map[string]string, opts AppOptions) (*runningHandler, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("app: pick a port: %w", err)
	}
	cmd := exec.Command(ch.exe, ch.args...)
	cmd.Dir = ch.workDir
	cmd.Env = os.Environ()
	for k, v := range settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"FUNCTIONS_HTTPWORKER_PORT="+port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+newGUID(),
		AppRootSetting+"="+dir,
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("app: start %s: %w", ch.exe, err)
	}
	h := &runningHandler{cmd: cmd, url: "http://127.0.0.1:" + port, done: make(chan struct{})}
	var outMu sync.Mutex
	copyLines := func(r io.Reader, isErr bool) {
		defer h.wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			l := AppLine{Stderr: isErr, Level: HostLevel(isErr, sc.Text()), Text: sc.Text()}
			h.mu.Lock()
			h.out = append(h.out, l)
			h.mu.Unlock()
			if opts.Output != nil {
				stream := "stdout"
				if isErr {
					stream = "stderr"
				}
				outMu.Lock()
				fmt.Fprintf(opts.Output, "handler %s [%s] %s\n", stream, l.Level, l.Text)
				outMu.Unlock()
			}
		}
	}
	h.wg.Add(2)
	go copyLines(stdout, false)
	go copyLines(stderr, true)
	go func() {
		h.wg.Wait() // the pipes are read to the end before Wait closes them
		h.err = cmd.Wait()
		close(h.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		case <-h.done:
		}
	}()
	return h, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// waitReady polls GET / as the host does: any HTTP answer is ready.
func (h *runningHandler) waitReady(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/", nil)
		if err != nil {
			return fmt.Errorf("app: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-h.done:
			return fmt.Errorf("app: the handler exited before it answered GET / (%v)", h.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readinessPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("app: the handler did not answer GET / on %s within %s: the host would give up on it", h.url, timeout)
		}
	}
}

// stop sends SIGTERM, as the host does when it shuts a worker down, and
// waits; after stopGrace it kills. A non-zero exit is an error.
func (h *runningHandler) stop() (int, error) {
	select {
	case <-h.done:
	default:
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(stopGrace):
			_ = h.cmd.Process.Kill()
			<-h.done
			return -1, fmt.Errorf("app: the handler did not stop within %s of SIGTERM", stopGrace)
		}
	}
	code := h.cmd.ProcessState.ExitCode()
	if h.err != nil {
		return code, fmt.Errorf("app: the handler exited with %v", h.err)
	}
	return code, nil
}

func (h *runningHandler) lines() []AppLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.out)
}

// withTail adds the handler's last stderr lines to err.
func (h *runningHandler) withTail(err error) error {
	var tail []string
	for _, l := range h.lines() {
		if l.Stderr {
			tail = append(tail, l.Text)
		}
	}
	if len(tail) == 0 {
		return err
	}
	if len(tail) > 5 {
		tail = tail[len(tail)-5:]
	}
	return fmt.Errorf("%w\nthe handler's last stderr lines:\n  %s", err, strings.Join(tail, "\n  "))
}
