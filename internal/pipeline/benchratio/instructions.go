package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// instructions counts, under callgrind, the instructions per record of
// `azdetect scan --format json` and of json.Valid on the same lines: for
// each source's records of the benchmark corpus and for the whole mix.
// Start-up (loading the rules, the runtime) is subtracted by also running
// each on the file's first record alone: (I(n) - I(1)) / (n - 1).
//
// Instruction counts do not depend on the machine's load, which wall-clock
// benchmarks on a shared machine do; they do not see cache misses or the
// garbage collector's second core.
func instructions(args []string) error {
	fs := flag.NewFlagSet("instructions", flag.ContinueOnError)
	bin := fs.String("bin", "bin/azdetect", "the azdetect binary to measure")
	n := fs.Int("records", 3000, "records in the mix")
	perSource := fs.Int("per-source", 2500, "records of each source measured on its own (drawn from a larger mix)")
	perFlow := fs.Int("per-flow-source", 500, "records of each flow-log source measured on its own (a record is ~22 tuple events)")
	dir := fs.String("dir", "", "where to write the corpus files and callgrind outputs (default: a temporary directory)")
	keep := fs.Bool("keep", false, "keep -dir's files (callgrind_annotate reads the callgrind.out.* files)")
	only := fs.String("only", "", "comma-separated sources to measure (default: every source and the mix)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("valgrind"); err != nil {
		return errors.New("valgrind not found: apt-get install -y valgrind")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "azdetect-instructions-")
		if err != nil {
			return err
		}
		*dir = d
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	recs := benchcorpus.Generate(*n)
	// Each source on its own is measured on up to perSource records (flow
	// logs perFlow), from a mix large enough that the rarest source (3 %)
	// has most of them: the garbage collector's cycles are few and
	// discrete, and on a few hundred cheap records whether one more falls
	// in the run shows as tens of percent.
	groups := benchcorpus.BySource(benchcorpus.Generate(max(*n, 25**perSource)))
	for s, rs := range groups {
		limit := *perSource
		if s == "nsgflowlogs" || s == "vnetflowlogs" {
			limit = *perFlow
		}
		groups[s] = rs[:min(len(rs), limit)]
	}
	names := make([]string, 0, len(groups)+1)
	for s := range groups {
		names = append(names, s)
	}
	sort.Strings(names)
	groups["mix"] = recs
	names = append(names, "mix")
	if *only != "" {
		names = strings.Split(*only, ",")
	}

	fmt.Printf("instructions per record under callgrind (GOMAXPROCS=1), start-up subtracted; benchcorpus: each source on up to %d records of its own (flow logs %d), the mix on %d\n\n", *perSource, *perFlow, *n)
	fmt.Printf("%-17s %7s %9s %14s %14s %7s\n", "source", "records", "bytes/rec", "azdetect scan", "json.Valid", "ratio")
	for _, name := range names {
		rs := groups[name]
		if len(rs) < 2 {
			return fmt.Errorf("source %s: %d records in the corpus, need 2 or more (raise -records)", name, len(rs))
		}
		full := filepath.Join(*dir, name+".jsonl")
		one := filepath.Join(*dir, name+"-1.jsonl")
		data := benchcorpus.JSONLines(rs)
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(one, benchcorpus.JSONLines(rs[:1]), 0o644); err != nil {
			return err
		}
		scan := func(file, tag string) (int64, error) {
			return callgrind(filepath.Join(*dir, "callgrind.out.scan."+tag), *bin, "scan", "--format", "json", "--dead-letter", filepath.Join(*dir, "dead.jsonl"), file)
		}
		valid := func(file, tag string) (int64, error) {
			return callgrind(filepath.Join(*dir, "callgrind.out.valid."+tag), self, "valid", file)
		}
		sN, err := scan(full, name)
		if err != nil {
			return err
		}
		s1, err := scan(one, name+"-1")
		if err != nil {
			return err
		}
		vN, err := valid(full, name)
		if err != nil {
			return err
		}
		v1, err := valid(one, name+"-1")
		if err != nil {
			return err
		}
		per := func(a, b int64) float64 { return float64(a-b) / float64(len(rs)-1) }
		ps, pv := per(sN, s1), per(vN, v1)
		fmt.Printf("%-17s %7d %9d %14.0f %14.0f %6.2fx\n", name, len(rs), len(data)/len(rs), ps, pv, ps/pv)
	}
	fmt.Printf("\nratio: azdetect's instructions per record over json.Valid's (aim: at or below 1.00x)\n")
	if *keep {
		fmt.Printf("profiles: callgrind_annotate %s/callgrind.out.scan.mix\n", *dir)
	}
	return nil
}

// callgrind runs the command under callgrind and returns the instructions
// it executed.
func callgrind(out string, command ...string) (int64, error) {
	return callgrindOn(out, 1, nil, command...)
}

// callgrindOn is callgrind with GOMAXPROCS=procs (callgrind runs one
// thread at a time: the count is the work of every core) and extra
// valgrind options (--toggle-collect=FUNCTION counts that function's
// calls alone).
func callgrindOn(out string, procs int, options []string, command ...string) (int64, error) {
	args := append(append([]string{"--tool=callgrind", "--callgrind-out-file=" + out}, options...), command...)
	cmd := exec.Command("valgrind", args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs), "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // scan exits 1 when alerts fired
		return 0, fmt.Errorf("%s: %w\n%s", strings.Join(command, " "), err, tail(stderr.String()))
	}
	f, err := os.Open(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no summary line", out)
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// valid is the baseline run under callgrind: json.Valid over each line.
func valid(args []string) error {
	if len(args) != 1 {
		return errors.New("valid FILE")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	ok := 0
	for line := range bytes.Lines(data) {
		if json.Valid(bytes.TrimSuffix(line, []byte("\n"))) {
			ok++
		}
	}
	fmt.Println(ok)
	return nil
}
