package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sbpeer"
	"github.com/azdetect/azdetect/internal/invoke"
)

// The crash and multi-process tests run azdetect as child processes: the
// test binary itself, re-executed with childEnv set, runs main. faultEnv
// names a fault point where the child kills itself with SIGKILL, as
// kill -9 would.
const (
	childEnv = "AZDETECT_TEST_CHILD"
	faultEnv = "AZDETECT_TEST_FAULT"

	faultAfterSend       = "kill-after-send"        // Service Bus acknowledged; before the suppression mark
	faultAfterFailedSend = "kill-after-failed-send" // Service Bus failed; before the outbox write and the release
	faultSlowSend        = "slow-send"              // every send takes 300 ms longer
)

func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	switch f := os.Getenv(faultEnv); f {
	case "":
	case faultAfterSend, faultAfterFailedSend:
		faultSink = func(s alert.Sink) alert.Sink { return killingSink{Sink: s, afterSuccess: f == faultAfterSend} }
	case faultSlowSend:
		faultSink = func(s alert.Sink) alert.Sink { return slowSink{s} }
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%s\n", faultEnv, f)
		os.Exit(exitUsage)
	}
	main()
}

// killingSink kills its process right after a publish that succeeded (or
// failed), before the caller hears of it.
type killingSink struct {
	alert.Sink
	afterSuccess bool
}

func (k killingSink) Publish(ctx context.Context, alerts []alert.Alert) error {
	err := k.Sink.Publish(ctx, alerts)
	if (err == nil) == k.afterSuccess {
		fmt.Fprintf(os.Stderr, "fault point: killed after publishing %d alert(s) (err=%v)\n", len(alerts), err)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return err
}

// slowSink widens the window between claiming and marking.
type slowSink struct{ alert.Sink }

func (s slowSink) Publish(ctx context.Context, alerts []alert.Alert) error {
	time.Sleep(300 * time.Millisecond)
	return s.Sink.Publish(ctx, alerts)
}

// child is one azdetect process started from the test binary.
type child struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr syncBuffer
	done   chan error
}

// startChild runs azdetect args in a child process with the test's
// environment plus env.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], args...)
	c.cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	c.cmd.Stdout = &c.stdout
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("child %v stderr:\n%.6000s", args, c.stderr.String())
		}
	})
	return c
}

// wait waits at most d for the child to end and returns its wait status.
func (c *child) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("child %v still running after %s", c.cmd.Args[1:], d)
		return nil
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// startServeChild runs `azdetect serve` in a child process on a free port
// and waits until it answers.
func startServeChild(t *testing.T, env ...string) (*child, string) {
	t.Helper()
	port := freePort(t)
	c := startChild(t, append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+port), "serve")
	url := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			return c, url
		}
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("serve child exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("serve child did not listen")
	return nil, ""
}

func killedBySignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// TestServeCrashLosesNothing is issue 17's crash criterion: a serve
// process killed (SIGKILL) between a successful send and the suppression
// mark, or between a failed send and the outbox write, loses no alert and
// sends none twice: after the host redelivers the batch to a new process
// and the maintenance timer runs, the Service Bus peer holds every alert
// scan raises exactly once.
func TestServeCrashLosesNothing(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	for _, fault := range []string{faultAfterSend, faultAfterFailedSend} {
		t.Run(fault, func(t *testing.T) {
			peer := sbpeer.StartT(t, sbpeer.Options{})
			s := outageSettings(t, peer, "table")
			t.Setenv("AZDETECT_CLAIM_LEASE", "1s")
			s.ClaimLease = time.Second
			if fault == faultAfterFailedSend {
				if err := peer.Down(); err != nil {
					t.Fatal(err)
				}
			}
			// Three events per invocation: the first invocation that
			// raises alerts is where the process dies.
			c, url := startServeChild(t, faultEnv+"="+fault)
			_, err := invoke.Replay(context.Background(), invoke.ReplayOptions{
				URL: url, Function: invoke.FunctionEventHub, FunctionsDir: "../functions",
				Paths: []string{"../testdata/demo"}, MaxBatchEvents: 3,
			})
			if err == nil {
				t.Fatal("replay succeeded: the fault point was never reached")
			}
			if werr := c.wait(t, 30*time.Second); !killedBySignal(werr, syscall.SIGKILL) {
				t.Fatalf("child ended with %v, want killed by SIGKILL at the fault point", werr)
			}
			if !strings.Contains(c.stderr.String(), "fault point: killed") {
				t.Fatalf("the child did not die at the fault point:\n%.3000s", c.stderr.String())
			}
			held, err := peer.Messages("alerts")
			if err != nil {
				t.Fatal(err)
			}
			if fault == faultAfterSend && len(held) == 0 {
				t.Fatal("killed after a send, but the peer holds nothing")
			}
			if fault == faultAfterFailedSend {
				if len(held) != 0 {
					t.Fatalf("the peer was down, yet holds %d messages", len(held))
				}
				if err := peer.Up(); err != nil {
					t.Fatal(err)
				}
			}
			if n := outboxLen(t, s); n != 0 {
				t.Fatalf("the outbox holds %d alerts: the process died before writing it", n)
			}

			// The host redelivers to a new process, then the timer runs
			// once the dead process's claims are past their lease.
			var logs syncBuffer
			h := startServe(t, s, &logs)
			h.batchEvents = 3
			if _, err := h.replay(invoke.FunctionEventHub, "../testdata/demo"); err != nil {
				t.Fatalf("redelivery: %v\n%.3000s", err, logs.String())
			}
			time.Sleep(1100 * time.Millisecond)
			rep, err := h.replay(invoke.FunctionMaintenance)
			if err != nil {
				t.Fatalf("maintenance: %v", err)
			}
			t.Logf("maintenance: %s", strings.Join(rep.Invocations[0].Logs, " "))
			h.stop(t)
			assertHeldOnce(t, peer, want)
		})
	}
}

// assertHeldOnce fails unless the peer holds each wanted alert exactly
// once and nothing else.
func assertHeldOnce(t *testing.T, peer *sbpeer.Peer, want []alert.Alert) {
	t.Helper()
	held, err := peer.Messages("alerts")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var got []string
	for _, m := range held {
		if count[m.MessageID]++; count[m.MessageID] == 1 {
			got = append(got, m.MessageID)
		} else {
			t.Errorf("alert %s arrived %d times", m.MessageID, count[m.MessageID])
		}
	}
	sort.Strings(got)
	if g, w := strings.Join(got, " "), strings.Join(ids(want), " "); g != w {
		t.Fatalf("the peer holds %d messages (%d distinct), scan raised %d alerts\nheld: %s\nscan: %s",
			len(held), len(got), len(want), g, w)
	}
	st, err := peer.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d alerts held once; %d messages stored, %d duplicates dropped", len(want), st.Messages, st.Duplicates)
}

// TestTwoProcessesSendOnce is issue 17's suppression criterion: two serve
// processes on one Azurite table, handed the same batches at the same
// time (a redelivery that lands on another instance while the first still
// works) and printing alerts to stdout (a sink with no duplicate
// detection), print each alert once between them.
func TestTwoProcessesSendOnce(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	conn := emulator.TableConnectionString(t)
	clearState(t, conn)
	env := []string{"AZDETECT_STATE=table", "AZDETECT_TABLE_CONNECTION_STRING=" + conn,
		"AZDETECT_ALERT_SINK=stdout", "AZDETECT_FUNCTIONS_DIR=../functions",
		// Sends take long enough that the two processes claim while the
		// other is still sending (read-then-write suppression sent most
		// alerts twice here).
		faultEnv + "=" + faultSlowSend}
	var children []*child
	var urls []string
	for i := 0; i < 2; i++ {
		c, url := startServeChild(t, append(env, fmt.Sprintf("AZDETECT_DEAD_LETTER_FILE=%s/dead%d.jsonl", t.TempDir(), i))...)
		children, urls = append(children, c), append(urls, url)
	}
	errs := make(chan error, len(urls))
	for _, url := range urls {
		go func(url string) {
			_, err := invoke.Replay(context.Background(), invoke.ReplayOptions{
				URL: url, Function: invoke.FunctionEventHub, FunctionsDir: "../functions",
				Paths: []string{"../testdata/demo"}, MaxBatchEvents: 20,
			})
			errs <- err
		}(url)
	}
	for range urls {
		if err := <-errs; err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	count := map[string]int{}
	per := make([]int, len(children))
	for i, c := range children {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		if err := c.wait(t, 30*time.Second); err != nil {
			t.Fatalf("serve %d: %v", i, err)
		}
		sc := bufio.NewScanner(&c.stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var a alert.Alert
			if json.Unmarshal(sc.Bytes(), &a) != nil || a.ID == "" {
				continue
			}
			count[a.ID]++
			per[i]++
		}
	}
	for _, a := range want {
		if count[a.ID] != 1 {
			t.Errorf("alert %s (%s) printed %d times by the two processes", a.ID, a.RuleID, count[a.ID])
		}
	}
	if len(count) != len(want) {
		t.Errorf("the two processes printed %d distinct alerts, scan alone raises %d", len(count), len(want))
	}
	t.Logf("%d alerts: %d printed by one process, %d by the other", len(want), per[0], per[1])
}

// TestServeSIGTERMUnderFlood is issue 17's listener criterion: a serve
// process flooded with slow invocation bodies (each declaring 100 MB and
// sending a byte every 200 ms, many more than it runs at once) stays
// small, and on SIGTERM exits cleanly within its grace.
func TestServeSIGTERMUnderFlood(t *testing.T) {
	const grace = 5 * time.Second
	c, url := startServeChild(t, "AZDETECT_SHUTDOWN_GRACE="+grace.String(), "AZDETECT_FUNCTIONS_DIR=../functions",
		fmt.Sprintf("AZDETECT_DEAD_LETTER_FILE=%s/dead.jsonl", t.TempDir()))
	addr := strings.TrimPrefix(url, "http://")
	const flood = 400
	statuses := make(chan int, flood)
	var conns []net.Conn
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for i := 0; i < flood; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, conn)
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(conn, "POST /ingest-eventhub HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"Data\":", addr, 100<<20)
		go func(conn net.Conn) {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}(conn)
	}
	stopTrickle := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopTrickle:
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, conn := range conns {
				_, _ = conn.Write([]byte(" "))
			}
		}
	}()
	defer close(stopTrickle)
	time.Sleep(time.Second)
	rss := childRSS(t, c.cmd.Process.Pid)
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := c.wait(t, grace+5*time.Second)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("serve exited with %v after SIGTERM under a flood", err)
	}
	if took > grace {
		t.Fatalf("serve took %s to exit after SIGTERM, grace %s", took, grace)
	}
	// The heap's room is faulted in at start-up and held, flood or not:
	// the rest (108 MiB, 300 MiB with the 192 MiB room the bound was set
	// with) is what a flood may add.
	if rss > serveHeapRoom+108<<20 {
		t.Fatalf("serve held %d MiB under a flood of %d slow 100 MB bodies (%d MiB of it the heap's room)", rss>>20, flood, serveHeapRoom>>20)
	}
	byStatus := map[int]int{}
	for i := 0; i < flood; i++ {
		select {
		case s := <-statuses:
			byStatus[s]++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d flood requests unanswered: %v", flood-i, flood, byStatus)
		}
	}
	if byStatus[http.StatusOK] > 0 {
		t.Fatalf("incomplete bodies answered 200: %v", byStatus)
	}
	t.Logf("flood of %d slow bodies: serve RSS %d MiB, answers by status %v (0: connection closed), exit %s after SIGTERM (grace %s)",
		flood, rss>>20, byStatus, took.Round(time.Millisecond), grace)
}

// childRSS is a process's resident set size in bytes, from /proc.
func childRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure the child's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}
