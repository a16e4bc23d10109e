package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type result struct {
	mbps, recs, allocs, ops, alerts float64
	ok                              bool
}

// ratio reads `go test -bench` output on stdin and prints the pipeline's
// figures beside the json.Valid baseline of the same run.
func ratio() {
	res := map[string]*result{}
	procs := "1" // -cpu 1 leaves no -N suffix on the names
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				procs = name[i+1:]
				name = name[:i]
			}
		}
		r := &result{ok: true}
		for i := 1; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "MB/s":
				r.mbps = v
			case "records/s":
				r.recs = v
			case "allocs/record":
				r.allocs = v
			case "storeops/1000rec":
				r.ops = v
			case "alerts":
				r.alerts = v
			}
		}
		res[strings.TrimPrefix(name, "Benchmark")] = r
	}
	p, v := res["Pipeline"], res["JSONValid"]
	if p == nil || v == nil || v.mbps == 0 {
		fmt.Fprintln(os.Stderr, "benchratio: need BenchmarkPipeline and BenchmarkJSONValid in the input")
		os.Exit(1)
	}
	cores, _ := strconv.ParseFloat(procs, 64)
	if cores == 0 {
		cores = 1
	}
	fmt.Printf("\npipeline:        %8.0f records/s (%6.0f per core at GOMAXPROCS=%s), %7.1f MB/s, %.1f allocs/record, %.1f storage ops per 1,000 records, %.0f alerts\n", p.recs, p.recs/cores, procs, p.mbps, p.allocs, p.ops, p.alerts)
	fmt.Printf("json.Valid:      %8.0f records/s, %7.1f MB/s (same bytes, same run)\n", v.recs, v.mbps)
	fmt.Printf("ratio:           %.2fx of stdlib json.Valid (aim: at or above 1.00x)\n", p.mbps/v.mbps)
}
