// Package sbpeer runs peer.py, a Service Bus stand-in built on Apache Qpid
// Proton, so that tests drive the real azservicebus client over TCP: SASL,
// the claims-based-security handshake on $cbs, links that report a max
// message size, single and batch sends, duplicate detection by message id,
// peek-lock receivers, and faults injected on command.
//
// The script runs under Debian's interpreter (/usr/bin/python3), the one
// the python3-qpid-proton package installs into, on a free loopback port.
// Commands travel over its stdin, one line each, and each gets one JSON
// line back on its stdout; closing stdin stops it.
package sbpeer

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed peer.py
var script []byte

// Python is the interpreter python3-qpid-proton installs into. It may not
// be the first python3 on PATH (pyenv, virtualenvs), so it is named in full.
const Python = "/usr/bin/python3"

// Install is how a bare Debian or Ubuntu machine gets the peer's one
// dependency.
const Install = "apt-get install -y --no-install-recommends python3-qpid-proton"

var (
	availableOnce sync.Once
	availableErr  error
)

// Available reports why the peer cannot run here, or nil.
func Available() error {
	availableOnce.Do(func() {
		out, err := exec.Command(Python, "-c", "import proton").CombinedOutput()
		if err != nil {
			availableErr = fmt.Errorf("%s cannot import proton (install with %q): %v: %s",
				Python, Install, err, bytes.TrimSpace(out))
		}
	})
	return availableErr
}

// Options tune the peer; the zero value is Service Bus Standard.
type Options struct {
	// MaxMessageSize is reported on attach; it bounds a message batch
	// (0: 256 KiB, Service Bus Standard).
	MaxMessageSize int
	// DuplicateWindow is how long a message id is remembered (0: 10 min).
	DuplicateWindow time.Duration
	// Log receives the peer's diagnostics on stderr (nil: discarded).
	Log io.Writer
}

// Peer is a running peer.py.
type Peer struct {
	cmd  *exec.Cmd
	dir  string
	port int

	mu    sync.Mutex // one command at a time
	stdin io.WriteCloser
	out   *bufio.Reader

	waitErr chan error
}

// Start runs the peer on a free loopback port and returns once it listens.
func Start(ctx context.Context, opts Options) (*Peer, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sbpeer-")
	if err != nil {
		return nil, fmt.Errorf("sbpeer: %w", err)
	}
	path := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sbpeer: %w", err)
	}
	args := []string{"-u", path, "--host", "127.0.0.1", "--port", "0"}
	if opts.MaxMessageSize > 0 {
		args = append(args, "--max-message-size", strconv.Itoa(opts.MaxMessageSize))
	}
	if opts.DuplicateWindow > 0 {
		args = append(args, "--duplicate-window", strconv.FormatFloat(opts.DuplicateWindow.Seconds(), 'f', -1, 64))
	}
	// Not CommandContext: the peer outlives the start-up context; Stop ends it.
	cmd := exec.Command(Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if opts.Log != nil {
		cmd.Stderr = opts.Log
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sbpeer: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sbpeer: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sbpeer: start %s: %w", Python, err)
	}
	p := &Peer{cmd: cmd, dir: dir, stdin: stdin, out: bufio.NewReader(stdout), waitErr: make(chan error, 1)}

	type ready struct {
		Ready bool `json:"ready"`
		Port  int  `json:"port"`
	}
	got := make(chan error, 1)
	var r ready
	go func() {
		line, err := p.out.ReadBytes('\n')
		if err != nil {
			got <- fmt.Errorf("sbpeer: no ready line: %w", err)
			return
		}
		if err := json.Unmarshal(line, &r); err != nil || !r.Ready || r.Port == 0 {
			got <- fmt.Errorf("sbpeer: unexpected first line %q", line)
			return
		}
		got <- nil
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case err = <-got:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout.C:
		err = errors.New("sbpeer: not ready after 30s")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
		return nil, err
	}
	p.port = r.Port
	go func() { p.waitErr <- cmd.Wait() }()
	return p, nil
}

// EnvRequired set to 1 turns "the peer cannot run here" from a skip into a
// failure: CI sets it, so the Service Bus tests never silently skip there.
const EnvRequired = "SBPEER_REQUIRED"

// StartT starts a peer for a test and stops it when the test ends. It skips
// the test, saying why, when the peer cannot run here (fails instead under
// SBPEER_REQUIRED=1); the peer's diagnostics are logged when the test
// failed.
func StartT(t testing.TB, opts Options) *Peer {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("Service Bus test peer unavailable and %s=1: %v", EnvRequired, err)
		}
		t.Skipf("Service Bus test peer unavailable: %v", err)
	}
	var logs lockedBuffer
	if opts.Log == nil {
		opts.Log = &logs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start Service Bus test peer: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop Service Bus test peer: %v", err)
		}
		if t.Failed() && logs.Len() > 0 {
			t.Logf("Service Bus test peer log:\n%s", logs.String())
		}
	})
	return p
}

// Port is the loopback port the peer listens on.
func (p *Peer) Port() int { return p.port }

// ConnectionString is an emulator connection string for the peer: plain
// TCP (UseDevelopmentEmulator), a well-known dummy key.
func (p *Peer) ConnectionString() string {
	return fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;", p.port)
}

// Busy rejects the next n sends with com.microsoft:server-busy (the client
// retries those).
func (p *Peer) Busy(n int) error { return p.do(fmt.Sprintf("busy %d", n), nil) }

// Refuse detaches every new link to an entity with the AMQP error
// condition (amqp:not-found, amqp:unauthorized-access, ...); "" stops.
func (p *Peer) Refuse(condition string) error {
	if condition == "" {
		condition = "off"
	}
	return p.do("refuse "+condition, nil)
}

// CloseMidSend closes the connection on the next n sends before storing
// them: the client never hears back.
func (p *Peer) CloseMidSend(n int) error { return p.do(fmt.Sprintf("close-mid-send %d", n), nil) }

// CloseAfterStore stores the next n sends, then closes the connection
// before acknowledging: the client retries a send that did arrive.
func (p *Peer) CloseAfterStore(n int) error {
	return p.do(fmt.Sprintf("close-after-store %d", n), nil)
}

// Down closes the listener and every connection (an outage); messages stay.
func (p *Peer) Down() error { return p.do("down", nil) }

// DownAfter goes down right after acknowledging the next n sends: an outage
// in the middle of an invocation that sends several batches.
func (p *Peer) DownAfter(n int) error { return p.do(fmt.Sprintf("down-after %d", n), nil) }

// Up listens again on the same port.
func (p *Peer) Up() error { return p.do("up", nil) }

// Reset forgets messages, faults and counters.
func (p *Peer) Reset() error { return p.do("reset", nil) }

// Message is a message an entity holds, as the peer decoded it.
type Message struct {
	SequenceNumber        int64          `json:"sequence_number"`
	MessageID             string         `json:"message_id"`
	Subject               string         `json:"subject"`
	ContentType           string         `json:"content_type"`
	ApplicationProperties map[string]any `json:"application_properties"`
	Body                  string         `json:"body"`
	DeliveryCount         int            `json:"delivery_count"`
	Locked                bool           `json:"locked"`
}

// Messages lists what an entity (queue, topic, "topic/Subscriptions/name")
// holds, oldest first, without receiving it.
func (p *Peer) Messages(entity string) ([]Message, error) {
	var r struct {
		Messages []Message `json:"messages"`
	}
	if strings.ContainsAny(entity, " \n") || entity == "" {
		return nil, fmt.Errorf("sbpeer: bad entity name %q", entity)
	}
	if err := p.do("messages "+entity, &r); err != nil {
		return nil, err
	}
	return r.Messages, nil
}

// Stats counts what the peer saw since start or Reset.
type Stats struct {
	Connections      int      `json:"connections"`
	ConnectionsOpen  int      `json:"connections_open"`
	SASLAnonymous    int      `json:"sasl_anonymous"`
	SASLPlain        int      `json:"sasl_plain"`
	Tokens           int      `json:"tokens"`
	Audiences        []string `json:"audiences"`
	Links            int      `json:"links"`
	LinksRefused     int      `json:"links_refused"`
	Transfers        int      `json:"transfers"`
	Messages         int      `json:"messages"`
	Duplicates       int      `json:"duplicates"`
	Busy             int      `json:"busy"`
	ClosedMidSend    int      `json:"closed_mid_send"`
	ClosedAfterStore int      `json:"closed_after_store"`
	Delivered        int      `json:"delivered"`
	Completed        int      `json:"completed"`
	Abandoned        int      `json:"abandoned"`
	DeadLettered     int      `json:"dead_lettered"`
}

// Stats returns the peer's counters.
func (p *Peer) Stats() (Stats, error) {
	var s Stats
	err := p.do("stats", &s)
	return s, err
}

// do sends one command and decodes its one-line answer into v (or checks
// it is {"ok": true} when v is nil).
func (p *Peer) do(command string, v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdin == nil {
		return errors.New("sbpeer: stopped")
	}
	if _, err := io.WriteString(p.stdin, command+"\n"); err != nil {
		return fmt.Errorf("sbpeer: %s: %w", command, err)
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("sbpeer: %s: no answer: %w", command, err)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &status); err != nil {
		return fmt.Errorf("sbpeer: %s: answer %q: %w", command, line, err)
	}
	if status.Error != "" {
		return fmt.Errorf("sbpeer: %s: %s", command, status.Error)
	}
	if v == nil {
		if !status.OK {
			return fmt.Errorf("sbpeer: %s: answer %q", command, line)
		}
		return nil
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("sbpeer: %s: answer %q: %w", command, line, err)
	}
	return nil
}

// Stop ends the peer (closing its stdin, then killing it after 5s) and
// removes its script.
func (p *Peer) Stop() error {
	p.mu.Lock()
	stdin := p.stdin
	p.stdin = nil
	p.mu.Unlock()
	if stdin == nil {
		return nil
	}
	defer os.RemoveAll(p.dir)
	_ = stdin.Close()
	select {
	case err := <-p.waitErr:
		if err != nil {
			return fmt.Errorf("sbpeer: exited: %w", err)
		}
		return nil
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.waitErr
		return errors.New("sbpeer: did not stop within 5s; killed")
	}
}

// lockedBuffer is a bytes.Buffer the peer's stderr copier and the test can
// share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
