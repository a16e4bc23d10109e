package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var suppressedCount = regexp.MustCompile(`suppressed as already raised (\d+)`)

// TestScanCountsSuppressed: a file scanned twice in one run raises its
// alerts once; the summary counts the second raising as suppressed.
func TestScanCountsSuppressed(t *testing.T) {
	const file = "../testdata/demo/activity.jsonl"
	once, stderr, code := scan(t, "--format", "json", file)
	if code != exitOK || len(once) == 0 {
		t.Fatalf("one pass over %s: exit %d, %d alerts: %s", file, code, len(once), stderr)
	}
	if m := suppressedCount.FindStringSubmatch(lastLine(stderr)); m == nil || m[1] != "0" {
		t.Errorf("one pass: summary %q, want suppressed as already raised 0", lastLine(stderr))
	}
	twice, stderr, _ := scan(t, "--format", "json", file, file)
	if len(twice) != len(once) {
		t.Errorf("the same file twice raised %d alerts, once %d", len(twice), len(once))
	}
	m := suppressedCount.FindStringSubmatch(lastLine(stderr))
	if m == nil {
		t.Fatalf("summary %q does not count suppressed alerts", lastLine(stderr))
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("summary %q: the second pass's alerts are not counted as suppressed", lastLine(stderr))
	}
}

// TestScanProgress: progress goes to stderr when it is a terminal (a
// pty here) or with --progress always, and never otherwise.
func TestScanProgress(t *testing.T) {
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"scan", "--format", "json", "--progress", "always", "../testdata/demo"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "scanning: ") || !regexp.MustCompile(`of [0-9]+ file\(s\) done, [0-9.]+ [KMG]?B read`).MatchString(stderr.String()) {
		t.Errorf("--progress always printed no progress: %q", stderr.String())
	}
	out := stderr.String()
	i := strings.LastIndex(out, "scanned ")
	if i < 0 || !(strings.HasSuffix(out[:i], "\r\x1b[K") || strings.HasSuffix(out[:i], "\n")) {
		t.Errorf("the summary does not start a line of its own: %q", out[max(0, i-120):])
	}
	if strings.Contains(out, "/s{") || strings.Contains(out, "files{") {
		t.Errorf("a log line is written over the progress line: %q", out)
	}
	stderr.Reset()
	if code := run([]string{"scan", "--format", "json", "../testdata/demo"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(stderr.String(), "scanning: ") || strings.Contains(stderr.String(), "\r") {
		t.Errorf("progress printed to a stderr that is not a terminal: %q", stderr.String())
	}

	t.Run("pty", func(t *testing.T) {
		master, slave, err := openPty()
		if err != nil {
			t.Skipf("no pseudo-terminal to test with: %v", err)
		}
		defer master.Close()
		var mu sync.Mutex
		var got bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				mu.Lock()
				got.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		code := run([]string{"scan", "--format", "json", "../testdata/demo"}, nil, &stdout, slave)
		slave.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		defer mu.Unlock()
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, got.String())
		}
		if !strings.Contains(got.String(), "scanning: ") {
			t.Errorf("no progress on a terminal stderr: %q", got.String())
		}
	})
}

// openPty opens a pseudo-terminal pair (Linux).
func openPty() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

func TestFoldClauses(t *testing.T) {
	line := "scanned 15 file(s) (657.6 KB), 366 record(s): activitylogs 141, auditlogs 24, keyvault 33, nsgflowlogs 7; not recognised 0; malformed 1 (kept in a.jsonl); alerts 85: critical 0, high 29"
	got := foldClauses(line, 40)
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 40 {
			t.Errorf("line over 40: %q", l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != line {
		t.Errorf("folding changed the text:\n%s", got)
	}
	if !strings.Contains(got, "activitylogs 141,") {
		t.Errorf("a clause was split: %s", got)
	}
}
