package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// parallel prints the speed-up of `azdetect scan` on two cores over one
// (GOMAXPROCS=2 against GOMAXPROCS=1, nothing else changed): for a folder
// of files and for one large gzip'd PT1H.json of the benchmark corpus.
// Each setting runs -runs times, the two alternating so that a change in
// the machine's load falls on both; the best wall-clock time of each is
// compared. Both must print the same alerts, byte for byte. The machine's
// load average is printed beside: on a shared machine other processes
// take cores too, and the ratio says less the higher it is.
func parallel(args []string) error {
	fs := flag.NewFlagSet("parallel", flag.ContinueOnError)
	bin := fs.String("bin", "bin/azdetect", "the azdetect binary to measure")
	n := fs.Int("records", 20000, "records in each case (the folder's files share them)")
	files := fs.Int("files", 16, "files in the folder")
	runs := fs.Int("runs", 3, "runs of each setting per case (the best counts)")
	dir := fs.String("dir", "", "where to write the inputs (default: a temporary directory, removed after)")
	stages := fs.Bool("stages", true, "after the timed runs, profile one run of each setting and print the CPU each stage of the pipeline took (go tool pprof -tags): a figure the machine's load skews less than wall clock")
	instr := fs.Bool("instructions", false, "also count, under callgrind, the instructions of each case on 1 and 2 cores and of the start-up (a one-record scan, and its rule parsing, which runs on every core), and estimate the speed-up from them: figures the machine's load does not change (slow: a minute or more a run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *instr {
		if _, err := exec.LookPath("valgrind"); err != nil {
			return errors.New("parallel -instructions: valgrind not found: apt-get install -y valgrind")
		}
	}
	if *files < 1 || *runs < 1 || *n < *files {
		return errors.New("parallel: -files and -runs at least 1, -records at least -files")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "azdetect-parallel-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	recs := benchcorpus.Generate(*n)
	folder := filepath.Join(*dir, "folder")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return err
	}
	per := (len(recs) + *files - 1) / *files
	var folderBytes int
	for i := 0; i < *files; i++ {
		part := benchcorpus.JSONLines(recs[min(i*per, len(recs)):min((i+1)*per, len(recs))])
		folderBytes += len(part)
		if err := os.WriteFile(filepath.Join(folder, fmt.Sprintf("PT1H-%03d.json", i)), part, 0o644); err != nil {
			return err
		}
	}
	data := benchcorpus.JSONLines(recs)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	big := filepath.Join(*dir, "PT1H.json.gz")
	if err := os.WriteFile(big, gz.Bytes(), 0o644); err != nil {
		return err
	}

	var startup *startupWork
	if *instr {
		one := filepath.Join(*dir, "one.json")
		if err := os.WriteFile(one, benchcorpus.JSONLines(recs[:1]), 0o644); err != nil {
			return err
		}
		st, err := countStartup(*bin, one, *dir)
		if err != nil {
			return err
		}
		startup = st
	}

	fmt.Printf("azdetect scan --format json, GOMAXPROCS=2 against GOMAXPROCS=1: best wall clock of %d runs each, alternating; %d CPU(s) here\n", *runs, runtime.NumCPU())
	fmt.Printf("load average before: %s\n\n", loadavg())
	fmt.Printf("%-30s %9s %10s %10s %8s %12s %12s\n", "case", "records", "1 core", "2 cores", "speed-up", "CPU 1 core", "CPU 2 cores")
	for _, c := range []struct {
		name, path string
		size       int
	}{
		{fmt.Sprintf("folder of %d files (%.0f MB)", *files, float64(folderBytes)/1e6), folder, folderBytes},
		{fmt.Sprintf("PT1H.json.gz (%.0f MB, %.0f MB gz)", float64(len(data))/1e6, float64(gz.Len())/1e6), big, len(data)},
	} {
		best := [2]time.Duration{}
		cpu := [2]time.Duration{}
		var sums [2][32]byte
		for r := 0; r < *runs; r++ {
			order := []int{1, 2}
			if r%2 == 1 {
				order = []int{2, 1}
			}
			for _, procs := range order {
				wall, used, sum, err := scanOnce(*bin, c.path, procs, *dir, "")
				if err != nil {
					return err
				}
				i := procs - 1
				if best[i] == 0 || wall < best[i] {
					best[i], cpu[i] = wall, used
				}
				sums[i] = sum
			}
		}
		if sums[0] != sums[1] {
			return fmt.Errorf("%s: the alerts on 2 cores differ from those on 1", c.name)
		}
		fmt.Printf("%-30s %9d %9.2fs %9.2fs %7.2fx %11.2fs %11.2fs\n", c.name, len(recs), best[0].Seconds(), best[1].Seconds(),
			best[0].Seconds()/best[1].Seconds(), cpu[0].Seconds(), cpu[1].Seconds())
		if *stages {
			for _, procs := range []int{1, 2} {
				st, err := stageCPU(*bin, c.path, procs, *dir)
				if err != nil {
					return err
				}
				fmt.Printf("    %d core(s), CPU by stage: %s\n", procs, st)
			}
			ready, err := readyShare(*bin, c.path, 2, *dir)
			if err != nil {
				return err
			}
			fmt.Printf("    2 cores, go tool trace: %s\n", ready)
		}
		if startup != nil {
			est, err := estimate(*bin, c.path, *dir, startup)
			if err != nil {
				return err
			}
			fmt.Printf("    instructions (callgrind): %s\n", est)
		}
	}
	fmt.Printf("\nload average after: %s\n", loadavg())
	fmt.Println("speed-up: wall clock on 1 core over wall clock on 2 (aim: 1.6x or more); CPU: user+system time of the best run")
	return nil
}

// scanOnce runs one scan and returns its wall-clock and CPU time and a
// hash of the alerts it printed.
func scanOnce(bin, path string, procs int, dir, profile string) (time.Duration, time.Duration, [32]byte, error) {
	cmd := exec.Command(bin, "scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), path)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
	if profile != "" {
		cmd.Env = append(cmd.Env, "AZDETECT_SCAN_CPUPROFILE="+profile)
	}
	// The alerts go to a file, read after the run: read from a pipe as
	// they come, they took this process's reading (a few MB) onto the
	// cores the scan is measured on, which two cores pay for and one does
	// not (the second core idles then).
	out, err := os.Create(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		return 0, 0, [32]byte{}, err
	}
	defer out.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // scan exits 1 when alerts fired
		return 0, 0, [32]byte{}, fmt.Errorf("%s scan %s: %w\n%s", bin, path, err, tail(stderr.String()))
	}
	used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	alerts, err := os.ReadFile(out.Name())
	if err != nil {
		return 0, 0, [32]byte{}, err
	}
	return wall, used, sha256.Sum256(alerts), nil
}

// stageCPU profiles one scan (AZDETECT_SCAN_CPUPROFILE) and returns the
// CPU its samples say each stage of the pipeline took (their "stage"
// label: order, evaluate, work, dispatch), and the rest: start-up (the
// rules' loading) and the collector's own goroutines.
func stageCPU(bin, path string, procs int, dir string) (string, error) {
	prof := filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", procs))
	gc, err := scanGC(bin, path, procs, dir, prof)
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "tool", "pprof", "-tags", prof).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -tags %s: %w", prof, err)
	}
	// "stage: Total 1.59s of 1.88s (84.57%)", then "660ms (35.11%): evaluate" lines.
	var parts []string
	var labelled, total string
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && f[0] == "stage:" && f[1] == "Total":
			labelled, total, in = f[2], f[4], true
		case in && len(f) >= 3 && strings.Contains(line, "%): "):
			parts = append(parts, f[len(f)-1]+" "+f[0])
		case in:
			in = false
		}
	}
	if total == "" {
		return "", fmt.Errorf("%s: no stage labels in the profile", prof)
	}
	lab, err1 := time.ParseDuration(labelled)
	tot, err2 := time.ParseDuration(total)
	if err1 == nil && err2 == nil {
		parts = append(parts, fmt.Sprintf("other (start-up, collector) %s", (tot-lab).Round(time.Millisecond)))
	}
	return fmt.Sprintf("%s of %s; %s", strings.Join(parts, ", "), total, gc), nil
}

// scanGC runs one profiled scan with the collector's trace on
// (GODEBUG=gctrace=1) and says how many collections it ran and the sum of
// the heap each left live (MB): the marking the collector did, a figure
// the machine's load does not skew. Two cores mark more than one when
// more is in flight between the pipeline's stages (parallel.go, blockSize).
func scanGC(bin, path string, procs int, dir, profile string) (string, error) {
	stderr, err := scanTo(bin, path, procs, dir, "GODEBUG=gctrace=1", "AZDETECT_SCAN_CPUPROFILE="+profile)
	if err != nil {
		return "", err
	}
	// "gc 3 @2.594s 6%: ..., 87->91->32 MB, 96 MB goal, ..."
	cycles, live := 0, 0
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		for _, f := range strings.Split(line, ", ") {
			if heap, ok := strings.CutSuffix(f, " MB"); ok && strings.Count(heap, "->") == 2 {
				var a, b, c int
				if _, err := fmt.Sscanf(heap, "%d->%d->%d", &a, &b, &c); err == nil {
					cycles++
					live += c
				}
			}
		}
	}
	return fmt.Sprintf("GC: %d cycles, %d MB left live in all", cycles, live), nil
}

// loadavg is the first three fields of /proc/loadavg, or "unknown".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 minutes)"
}

// readyShare runs one scan with an execution trace (AZDETECT_SCAN_TRACE)
// and says, from `go tool trace -d=parsed`, for what share of the run
// (from the pipeline's first goroutine to the trace's end) fewer
// goroutines than procs were ready to run (running, runnable or in a
// system call; the collector's mark workers left out, as they take what
// is idle), and fewer than procs ran. The first is what the pipeline's
// structure leaves idle, and the machine's load skews it little; the
// second also counts the scheduler's wake-ups, which a loaded machine
// delays.
func readyShare(bin, path string, procs int, dir string) (string, error) {
	tr := filepath.Join(dir, fmt.Sprintf("trace-%d.out", procs))
	if _, err := scanTo(bin, path, procs, dir, "AZDETECT_SCAN_TRACE="+tr); err != nil {
		return "", err
	}
	out, err := exec.Command("go", "tool", "trace", "-d=parsed", tr).Output()
	if err != nil {
		return "", fmt.Errorf("go tool trace -d=parsed %s: %w", tr, err)
	}
	// "M=.. P=.. G=.. StateTransition Time=123 GoID=7 Waiting->Runnable Reason=..."
	// then, for a goroutine made, the stack it starts in (indented).
	type gstate struct {
		ready, running, gc bool
	}
	gs := map[string]*gstate{}
	var ready, running, start, last, lowReady, lowRunning int64
	made := ""
	started := false
	for _, line := range strings.Split(string(out), "\n") {
		if made != "" && strings.HasPrefix(line, "\t") && strings.Contains(line, " @ ") {
			if g := gs[made]; strings.Contains(line, "gcBgMarkWorker") && !g.gc {
				if g.gc = true; g.ready {
					ready-- // counted as it was made
				}
			}
			if !started && strings.Contains(line, "internal/pipeline.") {
				started, start = true, last
			}
			made = ""
			continue
		}
		f := strings.Fields(line)
		if len(f) < 7 || f[3] != "StateTransition" || !strings.HasPrefix(f[5], "GoID=") {
			continue
		}
		t, err := strconv.ParseInt(strings.TrimPrefix(f[4], "Time="), 10, 64)
		if err != nil {
			continue
		}
		if started && last > 0 && t > last {
			if ready < int64(procs) {
				lowReady += t - last
			}
			if running < int64(procs) {
				lowRunning += t - last
			}
		}
		last = t
		id := strings.TrimPrefix(f[5], "GoID=")
		from, to, ok := strings.Cut(f[6], "->")
		if !ok {
			continue
		}
		g := gs[id]
		if g == nil {
			g = &gstate{}
			gs[id] = g
		}
		if from == "NotExist" {
			made = id
		}
		isReady := to == "Running" || to == "Runnable" || to == "Syscall"
		if !g.gc && g.ready != isReady {
			ready += map[bool]int64{true: 1, false: -1}[isReady]
		}
		if g.running != (to == "Running") {
			running += map[bool]int64{true: 1, false: -1}[to == "Running"]
		}
		g.ready, g.running = isReady, to == "Running"
	}
	span := last - start
	if !started || span <= 0 {
		return "", fmt.Errorf("%s: no pipeline goroutine in the trace", tr)
	}
	return fmt.Sprintf("of %s from the pipeline's start, fewer than %d goroutines ready %.1f %%, running %.1f %%",
		time.Duration(span).Round(time.Millisecond), procs, 100*float64(lowReady)/float64(span), 100*float64(lowRunning)/float64(span)), nil
}

// scanTo runs `bin scan` on path with GOMAXPROCS=procs and env, its
// alerts and dead letters in dir, and returns what it wrote to stderr
// (exit 1, alerts raised, is success).
func scanTo(bin, path string, procs int, dir string, env ...string) (*bytes.Buffer, error) {
	cmd := exec.Command(bin, "scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"),
		"--out", filepath.Join(dir, "alerts.json"), path)
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs)), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return &stderr, fmt.Errorf("%s scan %s: %w\n%s", bin, path, err, tail(stderr.String()))
	}
	return &stderr, nil
}

// startupWork is what a scan of one record executes (callgrind,
// GOMAXPROCS=1): all of it, and its rule parsing, which runs on every
// core (the goroutines of detect.loadDir); the rest of it runs on one.
type startupWork struct {
	all, parse int64
}

// serial is the start-up's work no second core shortens.
func (s *startupWork) serial() int64 { return s.all - s.parse }

// parseFunc is the function each goroutine parsing rule files runs.
const parseFunc = "github.com/azdetect/azdetect/internal/detect.loadDir.func2"

// countStartup counts the start-up's instructions on a scan of one
// record (one), and those of the rule parsing: the inclusive cost of
// parseFunc, which callgrind_annotate reads from the profile
// (valgrind's --toggle-collect, which follows the calls as they run,
// counted 0.8 M or 76 M of the same scan as the goroutines fell).
func countStartup(bin, one, dir string) (*startupWork, error) {
	prof := filepath.Join(dir, "callgrind.out.startup")
	all, err := callgrindOn(prof, 1, nil, bin, "scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), one)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command("callgrind_annotate", "--inclusive=yes", "--threshold=100", prof).Output()
	if err != nil {
		return nil, fmt.Errorf("callgrind_annotate %s: %w", prof, err)
	}
	// "    77,172,665 (85.31%)  ./.../load.go:github.com/.../detect.loadDir.func2 [/.../azdetect]"
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasSuffix(f[2], ":"+parseFunc) {
			parse, err := strconv.ParseInt(strings.ReplaceAll(f[0], ",", ""), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", prof, line, err)
			}
			return &startupWork{all: all, parse: parse}, nil
		}
	}
	return nil, fmt.Errorf("%s: no inclusive cost of %s", prof, parseFunc)
}

// estimate counts the instructions of a scan of path on one core (W1)
// and on two (W2: callgrind runs one thread at a time, so this is the
// work of both) and returns them with the speed-up they allow: W1 over
// the start-up's serial part plus half of the rest of W2, that is two
// cores never idle but for the serial start-up. The trace's share of
// the run with fewer goroutines ready than cores, and the machine's
// load, take from it; what two cores execute more than one (the
// collector marking what is in flight between stages) already counts.
func estimate(bin, path, dir string, st *startupWork) (string, error) {
	var w [2]int64
	for i := range w {
		n, err := callgrindOn(filepath.Join(dir, fmt.Sprintf("callgrind.out.%s-%d", filepath.Base(path), i+1)), i+1, nil,
			bin, "scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), path)
		if err != nil {
			return "", err
		}
		w[i] = n
	}
	t2 := float64(st.serial()) + float64(w[1]-st.serial())/2
	return fmt.Sprintf("1 core %.1f M, 2 cores %.1f M (%+.1f %%); start-up %.1f M, %.1f M of it serial; estimated speed-up %.2fx",
		float64(w[0])/1e6, float64(w[1])/1e6, 100*float64(w[1]-w[0])/float64(w[0]), float64(st.all)/1e6, float64(st.serial())/1e6,
		float64(w[0])/t2), nil
}
