// Package azurite starts Azurite, the Azure Storage emulator, for tests: the
// Table service (and, when asked, the Blob service) on free loopback ports,
// in memory, stopped when the test binary ends.
//
// Azurite comes from npm into the repository's .tools/azurite folder
// (`make azurite`). A test package starts it once in TestMain:
//
//	var emulator *azurite.Server
//
//	func TestMain(m *testing.M) {
//		emulator = azurite.Start(azurite.Table)
//		code := m.Run()
//		emulator.Stop()
//		os.Exit(code)
//	}
//
// and each test asks emulator.TableConnectionString(t), which skips the test
// with the reason (and how to install Azurite) when it is not installed.
//
// Environment: AZURITE_TABLE_CONNECTION_STRING (or AZURITE_BLOB_CONNECTION_STRING)
// uses an emulator already running instead of starting one; AZURITE_BIN
// names the folder holding azurite-table and azurite-blob; AZURITE_REQUIRED=1
// turns "not installed" into a failure instead of a skip (for CI).
package azurite

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Service is one Azurite service.
type Service int

const (
	Table Service = 1 << iota
	Blob
)

// Environment variables read by Start.
const (
	EnvTableConnectionString = "AZURITE_TABLE_CONNECTION_STRING"
	EnvBlobConnectionString  = "AZURITE_BLOB_CONNECTION_STRING"
	EnvBin                   = "AZURITE_BIN"
	EnvRequired              = "AZURITE_REQUIRED"
)

// Account and AccountKey are Azurite's well-known development account, the
// same in every installation (published in Azurite's README), not a secret.
const (
	Account    = "devstoreaccount1"
	AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// ErrNotInstalled is why Start found no Azurite to run.
var ErrNotInstalled = errors.New("azurite is not installed")

// installHint is what a skipped test prints.
const installHint = "install it with `make azurite` (npm install --prefix .tools/azurite azurite@3.37.0), " +
	"or set " + EnvBin + " to the folder holding azurite-table, or " + EnvTableConnectionString + " to a running emulator"

// Server is what Start started (or found). Its methods are safe on a
// Server whose start failed: they skip or fail the calling test.
type Server struct {
	table, blob string // connection strings
	err         error
	procs       []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	dir  string
	out  *syncBuffer
	done chan struct{}
}

// Start starts the services asked for, or takes their connection strings
// from the environment. It never returns nil; a failure is kept and
// reported by the connection-string methods.
func Start(services Service) *Server {
	s := &Server{}
	if services&Table != 0 {
		s.table, s.err = s.start("table", EnvTableConnectionString)
	}
	if services&Blob != 0 && s.err == nil {
		s.blob, s.err = s.start("blob", EnvBlobConnectionString)
	}
	if s.err != nil {
		s.Stop()
	}
	return s
}

// TableConnectionString returns the Table service's connection string, or
// skips t when Azurite is not installed (fails it when AZURITE_REQUIRED is
// set, or when Azurite did not start).
func (s *Server) TableConnectionString(t testing.TB) string {
	t.Helper()
	s.check(t)
	if s.table == "" {
		t.Fatal("azurite: the table service was not started (Start(azurite.Table))")
	}
	return s.table
}

// BlobConnectionString is TableConnectionString for the Blob service.
func (s *Server) BlobConnectionString(t testing.TB) string {
	t.Helper()
	s.check(t)
	if s.blob == "" {
		t.Fatal("azurite: the blob service was not started (Start(azurite.Blob))")
	}
	return s.blob
}

// Env returns the variables that make a child process (a re-executed test
// binary) use this server instead of starting its own.
func (s *Server) Env() []string {
	var env []string
	if s.table != "" {
		env = append(env, EnvTableConnectionString+"="+s.table)
	}
	if s.blob != "" {
		env = append(env, EnvBlobConnectionString+"="+s.blob)
	}
	return env
}

func (s *Server) check(t testing.TB) {
	t.Helper()
	switch {
	case s == nil:
		t.Fatal("azurite: no server (call azurite.Start in TestMain)")
	case errors.Is(s.err, ErrNotInstalled) && os.Getenv(EnvRequired) == "":
		t.Skipf("azurite: %v; %s", s.err, installHint)
	case s.err != nil:
		t.Fatalf("azurite: %v", s.err)
	}
}

// Stop stops what Start started, and removes its workspace.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	for _, p := range s.procs {
		p.stop()
	}
	s.procs = nil
}

func (s *Server) start(service, env string) (string, error) {
	if conn := os.Getenv(env); conn != "" {
		return conn, nil
	}
	bin, err := findBin("azurite-" + service)
	if err != nil {
		return "", err
	}
	// A free port can be taken between our probe and Azurite's listen: try
	// a few.
	var last error
	for range 3 {
		host := loopbackHost()
		port, err := freePort(host)
		if err != nil {
			return "", err
		}
		p, err := launch(bin, service, host, port)
		if err != nil {
			last = err
			continue
		}
		s.procs = append(s.procs, p)
		return connectionString(service, host, port), nil
	}
	return "", last
}

// loopbackHost is the address a launch listens on: on Linux, where the
// whole of 127.0.0.0/8 is the loopback, one picked at random per launch.
// The test binaries of `go test ./...` start their emulators at once: two
// of them probing the same free port on one address would both launch
// Azurite on it, the second's fails to bind, and the first's answers the
// second's readiness probe, so that two packages share one emulator and
// read, write and wipe each other's tables (a serve test's state swept by
// another package's test while its instances run). Elsewhere 127.0.0.1.
func loopbackHost() string {
	if runtime.GOOS != "linux" {
		return "127.0.0.1"
	}
	return fmt.Sprintf("127.%d.%d.%d", rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))
}

func connectionString(service, host string, port int) string {
	endpoint := "TableEndpoint"
	if service == "blob" {
		endpoint = "BlobEndpoint"
	}
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;%s=http://%s:%d/%s;",
		Account, AccountKey, endpoint, host, port, Account)
}

// findBin looks in AZURITE_BIN, then in .tools/azurite/node_modules/.bin of
// the repository (the folder holding go.mod, found from the working
// directory up).
func findBin(name string) (string, error) {
	if dir := os.Getenv(EnvBin); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s has no %s", ErrNotInstalled, EnvBin, dir, name)
		}
		return p, nil
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: node is not on PATH", ErrNotInstalled)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".tools", "azurite", "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: no %s", ErrNotInstalled, p)
	}
	return p, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", ErrNotInstalled)
		}
		dir = parent
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts one service and waits until it accepts connections.
func launch(bin, service, host string, port int) (*proc, error) {
	dir, err := os.MkdirTemp("", "azurite-"+service+"-")
	if err != nil {
		return nil, err
	}
	args := []string{
		"--" + service + "Host", host,
		"--" + service + "Port", strconv.Itoa(port),
		"--inMemoryPersistence", "--loose", "--skipApiVersionCheck", "--silent", "--disableTelemetry",
	}
	cmd := exec.Command(bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{name: "azurite-" + service, cmd: cmd, dir: dir, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()

	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			p.stop()
			return nil, fmt.Errorf("%s exited at start: %s: %s", p.name, cmd.ProcessState, bytes.TrimSpace(out.Bytes()))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen on %s within 30s: %s", p.name, addr, bytes.TrimSpace(out.Bytes()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process group (node and anything it forked), politely
// first.
func (p *proc) stop() {
	select {
	case <-p.done:
	default:
		signalGroup(p.cmd, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			signalGroup(p.cmd, syscall.SIGKILL)
			<-p.done
		}
	}
	os.RemoveAll(p.dir)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Main is a package's TestMain: it starts the services, keeps the server
// in *srv for the tests, runs them, stops the services and exits.
func Main(m *testing.M, services Service, srv **Server) {
	*srv = Start(services)
	code := m.Run()
	(*srv).Stop()
	os.Exit(code)
}
