// Command benchmem writes the inputs of scripts/bench-memory.sh (issue 17
// item 3, issue 12 item 3): a realistic mix of a given size, a gzip of long
// malformed lines, and a gzip bomb. Nothing it writes is committed.
//
//	benchmem mix MB FILE            JSON Lines: benchcorpus's mix of every source; thousands of users and addresses
//	benchmem malformed N MB FILE    N malformed lines of MB megabytes each (FILE ending .gz: gzip)
//	benchmem short N FILE           N short malformed lines (each one a dead letter)
//	benchmem bomb GB FILE           a gzip of GB gigabytes of zeros after one record
package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchmem:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: benchmem mix MB FILE | malformed N MB FILE | short N FILE | bomb GB FILE")
	}
	switch args[0] {
	case "mix":
		mb, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return write(args[2], func(w io.Writer) error { return mix(w, int64(mb)<<20) })
	case "malformed":
		if len(args) < 4 {
			return fmt.Errorf("usage: benchmem malformed N MB FILE")
		}
		n, err1 := strconv.Atoi(args[1])
		mb, err2 := strconv.Atoi(args[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("malformed: N and MB are numbers")
		}
		return write(args[3], func(w io.Writer) error { return malformed(w, n, mb<<20) })
	case "short":
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return write(args[2], func(w io.Writer) error { return short(w, n) })
	case "bomb":
		gb, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return bomb(args[2], int64(gb)<<30)
	}
	return fmt.Errorf("unknown input %q", args[0])
}

// write creates file, gzip'd when its name ends in .gz.
func write(name string, fn func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(name, ".gz") {
		zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		w = zw
	}
	if err := fn(w); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// malformed writes n lines of size bytes: a record whose string never
// closes, with a NUL byte every 64 bytes (JSON escapes each into six).
func malformed(w io.Writer, n, size int) error {
	chunk := []byte(strings.Repeat("A", 63) + "\x00")
	for i := 0; i < n; i++ {
		if _, err := fmt.Fprintf(w, `{"time":"2026-11-20T08:00:00Z","category":"SignInLogs","properties":{"userAgent":"`); err != nil {
			return err
		}
		for k := 0; k < size/len(chunk); k++ {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		if _, err := w.Write([]byte("\n")); err != nil {
			return err
		}
	}
	return nil
}

// short writes n lines of a record cut short (a trailing comma), each its
// own dead letter: what the dead-letter bookkeeping holds per record shows.
func short(w io.Writer, n int) error {
	for i := 0; i < n; i++ {
		if _, err := fmt.Fprintf(w, `{"time":"2026-11-20T08:00:00Z","category":"SignInLogs","index":%d,}`+"\n", i); err != nil {
			return err
		}
	}
	return nil
}

// bomb writes one record then size bytes of zeros, gzip'd at the best
// ratio: one 64 MiB member written once and repeated (a gzip body may hold
// many members).
func bomb(name string, size int64) error {
	var member strings.Builder
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	head := gzip.NewWriter(f)
	_, _ = head.Write([]byte(`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"x"}` + "\n"))
	if err := head.Close(); err != nil {
		return err
	}
	for n := int64(0); n < size; n += 64 << 20 {
		if _, err := f.WriteString(member.String()); err != nil {
			return err
		}
	}
	return f.Close()
}

// mix writes the first size bytes of benchcorpus's realistic mix of every
// source (Activity Start/outcome pairs, the four sign-in kinds, audit, risk,
// NSG and VNet flow, Key Vault, StorageBlobLogs, $logs lines; thousands of
// users and addresses; one record every 97 ms, so 450 MB spans about five
// hours of event time), whole records, one a line.
func mix(w io.Writer, size int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	var err error
	benchcorpus.Each(func(r benchcorpus.Record) bool {
		if _, err = bw.Write(r.Line); err == nil {
			err = bw.WriteByte('\n')
		}
		n += int64(len(r.Line)) + 1
		return err == nil && n < size
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
