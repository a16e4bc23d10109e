// Command benchratio prints the benchmark figures of `make bench` and
// `make bench-instructions`.
//
//	benchratio < bench.out        the pipeline's throughput, allocations and
//	                              storage operations beside the json.Valid
//	                              baseline of the same `go test -bench` run
//	benchratio instructions       instructions per record of `azdetect scan
//	                              --format json` and of json.Valid over the
//	                              same lines, counted by valgrind's callgrind,
//	                              by source and overall (flags: -bin, -records,
//	                              -dir, -keep)
//	benchratio parallel           the speed-up of `azdetect scan` on two cores
//	                              over one, for a folder of files and one large
//	                              gzip'd PT1H.json (flags: -bin, -records,
//	                              -files, -runs, -dir, -instructions)
//	benchratio valid FILE         json.Valid over each line of FILE (what
//	                              `instructions` runs under callgrind)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		ratio()
		return
	}
	var err error
	switch os.Args[1] {
	case "instructions":
		err = instructions(os.Args[2:])
	case "parallel":
		err = parallel(os.Args[2:])
	case "valid":
		err = valid(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want instructions, parallel, valid, or none to read bench output)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}
