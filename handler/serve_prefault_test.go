package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
)

// TestServeAnswersWhileHeapRoomFaults: serve faults its heap's room in
// after it attached the pipeline, beside the invocations: one that
// arrives meanwhile is answered without waiting for it, the room is
// still faulted in, and serve returns only once that ended (its context
// cancelled, it stops early). Serve also turns the heap profile's
// sampling off when it was at its default.
func TestServeAnswersWhileHeapRoomFaults(t *testing.T) {
	defer func(was bool) { prefaultRoom = was }(prefaultRoom)
	defer func(was func(context.Context, uint64) time.Duration) { prefault = was }(prefault)
	defer func(was func()) { heapRoomFaulted = was }(heapRoomFaulted)
	defer func(was int) { runtime.MemProfileRate = was }(runtime.MemProfileRate)
	runtime.MemProfileRate = defaultMemProfileRate
	t.Setenv("GOGC", "") // restored at the end of the test; unset: serve keeps a heap floor
	os.Unsetenv("GOGC")
	t.Setenv("GOMEMLIMIT", "off")

	prefaultRoom = true
	started, release, faulted := make(chan uint64, 1), make(chan struct{}), make(chan struct{})
	var stopped bool
	prefault = func(ctx context.Context, room uint64) time.Duration {
		started <- room
		select {
		case <-release:
		case <-ctx.Done():
			stopped = true
		}
		return time.Millisecond
	}
	heapRoomFaulted = func() { close(faulted) }

	t.Setenv("AZDETECT_STATE", "memory")
	t.Setenv("AZDETECT_ALERT_SINK", "jsonl")
	t.Setenv("AZDETECT_ALERT_FILE", filepath.Join(t.TempDir(), "alerts.jsonl"))
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(zerolog.New(&logs).WithContext(context.Background()))
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, &logs, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen")
	}
	select {
	case room := <-started:
		if room == 0 {
			t.Error("no room to fault in")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start faulting its heap room in")
	}
	if runtime.MemProfileRate != 0 {
		t.Errorf("MemProfileRate %d in serve, want 0 (no heap profile sampling)", runtime.MemProfileRate)
	}

	// The room is still being faulted in: an invocation is answered.
	rep, err := invoke.Replay(context.Background(), invoke.ReplayOptions{
		URL: "http://" + addr.String(), Function: invoke.FunctionEventHub, FunctionsDir: "../functions",
		Paths: []string{"../testdata/demo"},
	})
	if err != nil {
		t.Fatalf("replay while the heap room faults in: %v", err)
	}
	if len(rep.Invocations) == 0 {
		t.Fatalf("replay: no invocation answered: %+v", rep)
	}
	select {
	case <-faulted:
		t.Fatal("heap room reported faulted in before its faulting ended")
	default:
	}
	close(release)
	select {
	case <-faulted:
	case <-time.After(30 * time.Second):
		t.Fatal("heap room never reported faulted in")
	}
	if !strings.Contains(logs.String(), `"heap room faulted in"`) {
		t.Errorf("no log line for the heap room:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if stopped {
		t.Error("faulting was stopped, want it released")
	}
}

// TestServeReturnsAfterHeapRoomStops: serve cancelled while its heap room
// is still being faulted in stops the faulting and returns after it.
func TestServeReturnsAfterHeapRoomStops(t *testing.T) {
	defer func(was bool) { prefaultRoom = was }(prefaultRoom)
	defer func(was func(context.Context, uint64) time.Duration) { prefault = was }(prefault)
	defer func(was func()) { heapRoomFaulted = was }(heapRoomFaulted)
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	t.Setenv("GOMEMLIMIT", "off")

	prefaultRoom = true
	started, ended := make(chan struct{}), make(chan struct{})
	prefault = func(ctx context.Context, room uint64) time.Duration {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // serve must wait for this
		close(ended)
		return 0
	}
	t.Setenv("AZDETECT_STATE", "memory")
	t.Setenv("AZDETECT_ALERT_SINK", "jsonl")
	t.Setenv("AZDETECT_ALERT_FILE", filepath.Join(t.TempDir(), "alerts.jsonl"))
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(zerolog.Nop().WithContext(context.Background()))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, &syncBuffer{}, nil) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start faulting its heap room in")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	select {
	case <-ended:
	default:
		t.Fatal("serve returned before its heap room's faulting ended")
	}
}
