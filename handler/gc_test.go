package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The handler's tests start serve dozens of times: none faults the heap's
// room in (BenchmarkServe does).
func init() { prefaultRoom = false }

func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := write("memory.max", "2147483648\n")
	none := write("v2-max", "max\n")
	v1none := write("limit_in_bytes", "9223372036854771712\n")
	for _, tc := range []struct {
		name  string
		files []string
		want  int64
		ok    bool
	}{
		{"cgroup v2 limit", []string{v2}, 2 << 30, true},
		{"cgroup v2 without a limit", []string{none, v2}, 0, false},
		{"cgroup v1 without a limit", []string{v1none}, 0, false},
		{"no cgroup files", []string{filepath.Join(dir, "missing"), v2}, 2 << 30, true},
		{"nothing", []string{filepath.Join(dir, "missing")}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := containerMemoryLimit(tc.files)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %t; want %d, %t", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestTuneGC: serve raises the GC percent and keeps a heap floor unless
// GOGC is set.
func TestTuneGC(t *testing.T) {
	log := zerolog.Nop()
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "off") // the machine's cgroup is not this test's

	t.Setenv("GOGC", "") // restored at the end of the test
	os.Unsetenv("GOGC")
	debug.SetGCPercent(100)
	floor := tuneGC(&log)
	if floor == nil {
		t.Fatal("no heap floor without GOGC")
	}
	if got := debug.SetGCPercent(-1); got < serveGCPercent {
		t.Errorf("GC percent %d without GOGC, want at least %d", got, serveGCPercent)
	} else {
		debug.SetGCPercent(got)
	}
	floor.stop()
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("GC percent %d once the floor stopped, want %d", got, serveGCPercent)
	}
	t.Setenv("GOGC", "100")
	debug.SetGCPercent(150)
	if floor := tuneGC(&log); floor != nil {
		floor.stop()
		t.Error("a heap floor with GOGC set")
	}
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent %d with GOGC set, want it left as it was (150)", got)
	}
}

// TestHeapFloor: after each collection the heap goal is at least what is
// live plus the room, and a stopped floor leaves the GC percent alone.
func TestHeapFloor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(serveGCPercent))
	const room = 64 << 20
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	floor := startHeapFloor(room)
	defer floor.stop()
	var keep [][]byte
	for round := range 4 {
		// A live heap that grows past a quarter of the room: the goal
		// stays live + room.
		keep = append(keep, make([]byte, 8<<20))
		runtime.GC()
		deadline := time.Now().Add(10 * time.Second)
		for {
			metrics.Read(samples)
			live, goal := samples[0].Value.Uint64(), samples[1].Value.Uint64()
			want := max(live+room, live*(100+floorMinPercent)/100)
			if goal >= want && goal <= want+want/10+(4<<20) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: live %d, heap goal %d, want %d", round, live, goal, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	runtime.KeepAlive(keep)
	floor.stop()
	debug.SetGCPercent(123)
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // a finalizer would run by now
	if got := debug.SetGCPercent(serveGCPercent); got != 123 {
		t.Errorf("GC percent %d after a stopped floor's collection, want 123", got)
	}
}

func TestFloorPercent(t *testing.T) {
	for _, tc := range []struct {
		live, room uint64
		want       int
	}{
		{100 << 20, 192 << 20, 200}, // 192: past a quarter of the room, still live + room
		{48 << 20, 192 << 20, 400},
		{192 << 20, 192 << 20, floorMinPercent}, // past the room: twice live
		{40 << 20, 192 << 20, 480},
		{7 << 20, 192 << 20, 2800}, // 2742, up to two digits
		{0, 192 << 20, 4800},       // no collection yet: 4 MB assumed
		{100, 192 << 20, 4800},     // under 4 MB: 4 MB
		{2 << 30, 8 << 30, 400},
		{41 << 20, 192 << 20, 470}, // 468
		{1 << 30, 192 << 20, floorMinPercent},
	} {
		if got := floorPercent(tc.live, tc.room); got != tc.want {
			t.Errorf("floorPercent(%d, %d) = %d, want %d", tc.live, tc.room, got, tc.want)
		}
		if got := floorPercent(tc.live, tc.room); uint64(got) < tc.room*100/max(tc.live, 4<<20) {
			t.Errorf("floorPercent(%d, %d) = %d: below the room", tc.live, tc.room, got)
		}
	}
}

// TestPrefaultHeap: the room is faulted in and freed, held from the OS.
func TestPrefaultHeap(t *testing.T) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapSys - ms.HeapReleased
	prefaultHeap(context.Background(), 32<<20)
	runtime.ReadMemStats(&ms)
	if held := ms.HeapSys - ms.HeapReleased; held < before+16<<20 && held < 32<<20 {
		t.Errorf("heap held from the OS %d bytes after a 32 MiB room, %d before", held, before)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	prefaultHeap(ctx, 32<<20) // returns: touches the first page only
}

// TestHeapRoomWithinMemoryLimit: in a container with a memory limit the
// heap room serve prefaults, and the live heap it takes as much again
// (heapFloor's goal at floorMinPercent), stay below the runtime's soft
// limit.
func TestHeapRoomWithinMemoryLimit(t *testing.T) {
	log := zerolog.Nop()
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer func(was []string) { cgroupMemoryFiles = was }(cgroupMemoryFiles)
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	for _, limit := range []int64{256 << 20, 512 << 20, 1 << 30, 4 << 30} {
		f := filepath.Join(t.TempDir(), "memory.max")
		if err := os.WriteFile(f, []byte(strconv.FormatInt(limit, 10)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cgroupMemoryFiles = []string{f}
		floor := tuneGC(&log)
		floor.stop()
		soft := debug.SetMemoryLimit(-1)
		if want := min(int64(serveHeapRoom), limit/4); int64(floor.room) != want {
			t.Errorf("limit %d: room %d, want %d", limit, floor.room, want)
		}
		if soft <= 0 || soft >= limit {
			t.Errorf("limit %d: soft limit %d", limit, soft)
		}
		if 2*int64(floor.room) >= soft {
			t.Errorf("limit %d: twice the room, %d bytes, is not below the soft limit %d", limit, 2*floor.room, soft)
		}
	}
}
