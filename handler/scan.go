package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/report"
)

// runScan runs the engine over exported log files with in-memory state and
// prints the alerts: the incident responder's use, and the embedded default.
func runScan(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("scan", flag.ContinueOnError)
	format := fset.String("format", defaultFormat(stdout), "output: table, json (one alert per line) or html (one self-contained report); default table on a terminal, else json, or html for an --out FILE ending in .html")
	outPath := fset.String("out", "", "write the alerts (any --format) to `FILE` instead of stdout")
	failOn := fset.String("fail-on", "", "exit 1 when an alert at or above this severity fired")
	deadLetter := fset.String("dead-letter", s.DeadLetterFile, "JSON-lines `FILE` for malformed records (created only when there is one)")
	minSev := fset.String("min-severity", s.MinSeverity, "lowest severity printed")
	sortBy := fset.String("sort", "time", "table order: time, or severity then time")
	progressMode := fset.String("progress", "auto", "progress on stderr: auto (when stderr is a terminal), always or never")
	if code, stop := parseFlags(fset, args, stdout, stderr); stop {
		return code
	}
	if *outPath != "" && !flagSet(fset, "format") {
		*format = "json"
		if ext := strings.ToLower(filepath.Ext(*outPath)); ext == ".html" || ext == ".htm" {
			*format = "html"
		}
	}
	switch {
	case *failOn != "" && alert.Rank(*failOn) == 0:
		fmt.Fprintf(stderr, "azdetect scan: --fail-on %q: want one of %s\n", *failOn, strings.Join(alert.Severities(), ", "))
		return exitUsage
	case alert.Rank(*minSev) == 0:
		fmt.Fprintf(stderr, "azdetect scan: --min-severity %q: want one of %s\n", *minSev, strings.Join(alert.Severities(), ", "))
		return exitUsage
	case *sortBy != "time" && *sortBy != "severity":
		fmt.Fprintf(stderr, "azdetect scan: --sort %q: want time or severity\n", *sortBy)
		return exitUsage
	case *progressMode != "auto" && *progressMode != "always" && *progressMode != "never":
		fmt.Fprintf(stderr, "azdetect scan: --progress %q: want auto, always or never\n", *progressMode)
		return exitUsage
	}
	files, ok := inputFiles("scan", *format, []string{"table", "json", "html"}, fset.Args(), stderr)
	if !ok {
		return exitUsage
	}
	log := zerolog.Ctx(ctx)
	stopProfile, err := profileScan(os.Getenv("AZDETECT_SCAN_CPUPROFILE"))
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: AZDETECT_SCAN_CPUPROFILE: %v\n", err)
		return exitUsage
	}
	defer stopProfile()
	stopMemProfile, err := memProfileScan(os.Getenv("AZDETECT_SCAN_MEMPROFILE"), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: AZDETECT_SCAN_MEMPROFILE: %v\n", err)
		return exitUsage
	}
	defer stopMemProfile()
	stopTrace, err := traceScan(os.Getenv("AZDETECT_SCAN_TRACE"))
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: AZDETECT_SCAN_TRACE: %v\n", err)
		return exitUsage
	}
	defer stopTrace()
	store, err := openState(s)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}
	stateOpts, sweeper := scanStateOptions(store)
	reg, eng, rules, err := engine(s, append(stateOpts, detect.WithStore(store))...)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}
	out := stdout
	var outFile *os.File
	if *outPath != "" {
		if outFile, err = os.Create(*outPath); err != nil {
			fmt.Fprintf(stderr, "azdetect scan: --out: %v\n", err)
			return exitUsage
		}
		defer outFile.Close()
		out = outFile
	}

	// The summary counts every alert; the output gets those at or above
	// --min-severity: as JSON lines as they come, or a table at the end.
	var collected alert.Collector
	var printed, raised severityCount
	var sinkOut alert.Sink = &collected
	if *format == "json" {
		sinkOut = alert.NewJSONLines(out)
	}
	sink := alert.Fanout{
		{Sink: &raised, Name: "summary"},
		{Sink: alert.Fanout{{Sink: sinkOut, Name: "output"}, {Sink: &printed, Name: "printed"}}, MinSeverity: *minSev, Name: "output"},
	}
	dead := alert.NewDeadLetterFile(*deadLetter)
	defer dead.Close()
	// A rerun over the same input adds no line the file already holds.
	once, err := alert.NewKeptOnce(dead, *deadLetter)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: --dead-letter %s: %v\n", *deadLetter, err)
		return exitUsage
	}
	named := map[string]bool{}
	for _, f := range files {
		if named[f] {
			once.ReadAgain(f)
		}
		named[f] = true
	}
	sup := &countingSuppressor{Suppressor: suppressor(s, store)}
	var afterChunk func(context.Context, int, []*event.Event) error
	var sweeps func(int) bool
	if sweeper != nil {
		afterChunk, sweeps = sweeper.afterChunk, sweeper.sweeps
	}
	p, err := pipeline.New(pipeline.Options{
		Registry: reg, Engine: eng, Sink: sink, DeadLetters: once, BatchLogLevel: zerolog.DebugLevel,
		Suppressor: sup, OmitAlerts: true, AfterChunk: afterChunk, AfterChunkChanges: sweeps,
		Workers: -1, // GOMAXPROCS: frame, parse and select on every core
	})
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}

	showProgress := *progressMode == "always"
	if f, ok := stderr.(*os.File); ok && *progressMode == "auto" {
		showProgress = isTerminal(f)
	}
	prog := newProgress(stderr, showProgress, len(files))
	if prog.enabled {
		// A log line (a malformed record kept) first clears the progress
		// line it would otherwise be written over.
		var w io.Writer = &lineClearer{w: stderr, p: prog}
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
		}
		l := zerolog.Ctx(ctx).Output(w)
		ctx = l.WithContext(ctx)
		log = &l
	}
	total := pipeline.Report{BySource: map[string]int{}}
	ioErrors := 0
	// The files are evaluated one after another, in order (the stateful
	// rules follow event time across them), while the next ones are
	// already read and parsed on the other cores.
	inputs := make([]pipeline.Input, len(files))
	for i, path := range files {
		inputs[i] = pipeline.Input{Origin: path, Open: func() (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{prog.Reader(f), f}, nil
		}}
	}
	err = p.RunEach(ctx, inputs, func(i int, rep pipeline.Report, err error) error {
		var oe *pipeline.OpenError
		if errors.As(err, &oe) {
			prog.Done()
			log.Error().Err(oe.Err).Str("file", files[i]).Msg("cannot open file")
			ioErrors++
			return nil
		}
		total.Add(rep)
		prog.FileDone(rep.Records)
		if err != nil {
			prog.Done()
			if ctx.Err() != nil {
				return err
			}
			log.Error().Err(err).Str("file", files[i]).Msg("scan failed")
			ioErrors++
		}
		return nil
	})
	if err != nil { // only a cancelled ctx stops RunEach
		prog.Done()
		fmt.Fprintln(stderr, "azdetect scan: interrupted")
		return exitUsage
	}
	prog.Done()

	switch *format {
	case "table":
		if len(collected.Alerts) > 0 {
			opts := report.TableOptions{Width: termWidth(out), BySeverity: *sortBy == "severity"}
			if err := report.WriteTable(out, collected.Alerts, opts); err != nil {
				ioErrors++
			}
		} else {
			fmt.Fprintln(out, "No alerts.")
		}
	case "html":
		sum := report.Scan{
			Generated: time.Now(), Version: version, Paths: fset.Args(), Files: len(files), Bytes: prog.bytes,
			Records: total.Records, BySource: total.BySource, Unrecognised: total.Unrecognised, Malformed: total.Malformed,
			Suppressed: sup.suppressed, BelowMinSeverity: raised.total() - printed.total(),
			Coverage: total.Coverage.Report(), Alerts: collected.Alerts, Rules: ruleDocs(rules),
		}
		if err := report.WriteHTML(out, sum); err != nil {
			log.Error().Err(err).Msg("cannot write the HTML report")
			ioErrors++
		}
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil {
			fmt.Fprintf(stderr, "azdetect scan: --out: %v\n", err)
			ioErrors++
		}
	}
	summary := summaryLine(len(files), prog.bytes, total, raised, printed, sup.suppressed, dead)
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		// A person reads it: folded at its clauses to the terminal's
		// width. Elsewhere it stays one line for scripts.
		summary = foldClauses(summary, termWidth(f))
	}
	fmt.Fprintln(stderr, summary)
	switch {
	case ioErrors > 0:
		return exitUsage
	case *failOn != "" && raised.atLeast(*failOn):
		return exitAlerts
	}
	return exitOK
}

// scanMemoryLimit is the soft memory limit of the Go runtime during a scan
// when GOMEMLIMIT is not set (GOMEMLIMIT=off leaves none): the collector
// then works harder as the heap nears it, instead of letting the heap
// grow to twice what is live (GOGC). A long scan's live heap (its state:
// about one window of each rule, the baselines; the chunks in flight) is
// 80-100 MB, so without it a 450 MB scan peaks at 220-250 MB of memory
// where a 50 MB one peaks at 117; with it at about 130 MB, for about 45 %
// more CPU on that long scan (README, Development). 120 MiB, not 112: on
// two cores more is in flight between the pipeline's stages (32-47 MB
// live at each collection against 26-37 on one), so the same input
// collected once more, each collection marking what is live: a scan of
// bench-parallel's folder (20,000 records) made 3 collections on two
// cores against 2 on one (5 runs of 6 with 112 MiB), and its collector
// executed 352 M instructions against 215 M, most of the 9-15 % more that
// two cores execute than one (callgrind); with 120 MiB, 2 on both.
const scanMemoryLimit = 120 << 20

// scanGCPercent is the collector's target during a scan that runs under
// scanMemoryLimit and without GOGC: off (-1), so that the limit alone
// paces the collector: no collection until the heap nears the limit, as
// often as it must from there. Scan is a batch that ends, and what the
// limit bounds its peak to it reaches on any long input anyway; each
// collection before that marks the whole live heap for nothing. At Go's
// 100 the mix cost 257.8k instructions per record (make
// bench-instructions, in one run), at 400 225.8k (NSG flow 901.5k and
// 726.4k), a collection once the heap had grown by four times what was
// live; off, a scan of 3,000 records makes none (one at 400), one of 50
// MB three (five at 400: peak 128 MB against 124), and a long one is paced
// by the limit either way.
const scanGCPercent = -1

// scanHeapRoom is the heap a scan under scanMemoryLimit and
// scanGCPercent (neither GOMEMLIMIT nor GOGC set) backs with 2 MB pages
// where the kernel offers them on request (hugePageHeap): the heap grows
// to near the limit before the collector's first cycle, and stays there.
//
// The heap's peak (~105-108 MB) is more than the mapping the room and the
// heap below it make (100 MB): what the runtime maps above it as the heap
// grows is 4 KB pages. With room for the peak (112 MiB) bench-parallel's
// folder faults ~2,800 times on two cores, not ~4,700-6,800; but near the
// limit the runtime hands back free pages at the heap's top (its
// scavenger, forced when a fresh page would take it over the limit), and
// in the room those are 2 MB pages, which it splits. On one core it did
// in 4 of 8 runs (46-50 splits, /proc/vmstat thp_split_pmd; the heap
// overshoots the limit more there: gctrace 102 -> 107-108 MB against 99
// -> 103-105 on two), the median scan ~10-17 ms slower, so one core keeps
// 96 MiB. On two cores it split in 2 of 35 runs (folder, all.json, 64
// files, the gz'd file, the mix), and a 4 KB page costs more there: the
// first access of fresh memory is often a read (a nil check, an atomic
// exchange of the runtime's), which maps the kernel's zero page, and the
// write after it replaces that page and flushes the TLB of every CPU
// running the process, an interrupt to the other vCPU (perf over 10
// folder scans: 14.9 ms of CPU a scan in flush_tlb_mm_range on two cores,
// 1.3 on one; 313 of the 825 such faults in the 4 KB heap above the
// room, none with 112 MiB). Two-core folder scan with 112 MiB: best 161
// -> 155 ms, CPU 324 -> 315 ms (median; 30 runs each, one core unchanged).
const (
	scanHeapRoom         = 96 << 20
	scanHeapRoomParallel = 112 << 20
)

// heapRoom is the room of a scan on procs cores (GOMAXPROCS).
func heapRoom(procs int) int {
	if procs > 1 {
		return scanHeapRoomParallel
	}
	return scanHeapRoom
}

// limitScanMemory sets scanMemoryLimit for `azdetect scan` (args are the
// command line's, without the program) unless GOMEMLIMIT is set, and then
// scanGCPercent unless GOGC is set; with neither set, the heap's room
// (heapRoom) is backed by 2 MB pages.
func limitScanMemory(args []string) {
	if len(args) == 0 || args[0] != "scan" {
		return
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(scanGCPercent)
		// The room is made before the limit is set: a room of 112 MiB is
		// more than the heap's goal under the limit (111 MB), and its
		// allocation started a collection of its own before
		// FreeOSMemory's, 2.1-3.3 ms of start-up on two cores against
		// 1.2-1.8 ms with one (hugePageHeap timed, one-record scan).
		hugePageHeap(heapRoom(runtime.GOMAXPROCS(0)))
	}
	debug.SetMemoryLimit(scanMemoryLimit)
}

// profileScan writes a CPU profile of the scan to path when it is set
// (AZDETECT_SCAN_CPUPROFILE, for development: make bench-parallel's
// stage figures); the samples carry the pipeline's stage label, so
// `go tool pprof -tags` says what each stage cost. stop ends it.
func profileScan(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// scanMemProfileRate is the runtime's memory profile rate while
// AZDETECT_SCAN_MEMPROFILE is set: a sample every 64 KB allocated, fine
// enough for the big allocations that set a scan's collection count.
const scanMemProfileRate = 64 << 10

// memProfileScan writes a heap profile of the scan to path when it is set
// (AZDETECT_SCAN_MEMPROFILE, for development: `go tool pprof
// -sample_index=alloc_space -top` says which call sites allocated the
// bytes that make the collector run); stop writes it at the scan's end.
// The rate is set here, after the rules are read and the heap's room is
// reserved, so that the profile holds the scan's allocations.
func memProfileScan(path string, stderr io.Writer) (stop func(), err error) {
	if path == "" {
		stopHeapSampling() // nothing reads one: ~1k instructions a mix record
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	runtime.MemProfileRate = scanMemProfileRate
	return func() {
		runtime.GC() // the profile's figures are as of the last collection
		if err := pprof.WriteHeapProfile(f); err != nil {
			fmt.Fprintf(stderr, "azdetect scan: AZDETECT_SCAN_MEMPROFILE: %v\n", err)
		}
		f.Close()
	}, nil
}

// traceScan writes an execution trace of the scan to path when it is set
// (AZDETECT_SCAN_TRACE, for development: `go tool trace`, and make
// bench-parallel's share of the run with fewer goroutines ready than
// cores, a figure the machine's load skews little). stop ends it.
func traceScan(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

// flagSet says whether the command line set the flag.
func flagSet(fset *flag.FlagSet, name string) bool {
	set := false
	fset.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// countingSuppressor counts the alerts its suppressor drops as already
// raised, for the summary: "nothing found" and "already told you" differ.
type countingSuppressor struct {
	alert.Suppressor
	suppressed int
}

func (c *countingSuppressor) Fresh(ctx context.Context, now time.Time, alerts []alert.Alert) ([]alert.Alert, error) {
	fresh, err := c.Suppressor.Fresh(ctx, now, alerts)
	if err == nil {
		c.suppressed += len(alerts) - len(fresh)
	}
	return fresh, err
}

// ruleDocs is what the HTML report says of each rule.
func ruleDocs(rules []*detect.Rule) map[string]report.RuleDoc {
	docs := make(map[string]report.RuleDoc, len(rules))
	for _, r := range rules {
		docs[r.ID] = report.RuleDoc{
			ID: r.ID, Name: r.Name, Title: r.Title, Level: r.Level, Description: strings.TrimSpace(r.Description),
			FalsePositives: r.FalsePositives, References: r.References, Techniques: r.Techniques(), Tactics: r.Tactics(),
		}
	}
	return docs
}

func defaultFormat(w io.Writer) string {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return "table"
	}
	return "json"
}

// severityCount is a sink that counts alerts per severity: scan's summary
// keeps counts, not alerts, however many an input raises.
type severityCount map[string]int

// Publish implements alert.Sink.
func (c *severityCount) Publish(_ context.Context, alerts []alert.Alert) error {
	if *c == nil {
		*c = severityCount{}
	}
	// A run of one severity (a rule's alerts come together) is one
	// map update.
	for i := 0; i < len(alerts); {
		sev, j := alerts[i].Severity, i+1
		for j < len(alerts) && alerts[j].Severity == sev {
			j++
		}
		(*c)[sev] += j - i
		i = j
	}
	return nil
}

// Close implements alert.Sink.
func (c *severityCount) Close() error { return nil }

func (c severityCount) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

func (c severityCount) atLeast(sev string) bool {
	for s, n := range c {
		if n > 0 && alert.AtLeast(s, sev) {
			return true
		}
	}
	return false
}

// summaryLine is the line that always ends a scan on stderr.
func summaryLine(files int, bytes int64, rep pipeline.Report, raised, printed severityCount, suppressed int, dead *alert.DeadLetterFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d file(s), %d record(s) (%s):", files, rep.Records, report.Bytes(bytes))
	names := make([]string, 0, len(rep.BySource))
	for k := range rep.BySource {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		b.WriteString(" none recognised;")
	}
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", k, rep.BySource[k])
	}
	if len(names) > 0 {
		b.WriteByte(';')
	}
	fmt.Fprintf(&b, " not recognised %d; malformed %d", rep.Unrecognised, rep.Malformed)
	if rep.Rejected > 0 {
		fmt.Fprintf(&b, "; rejected by a rule %d", rep.Rejected)
	}
	if dead.Count() > 0 {
		fmt.Fprintf(&b, " (kept in %s)", dead.Path())
	}
	for _, e := range rep.ReadErrors {
		fmt.Fprintf(&b, "; %s: %s", e.Origin, e.Reason)
	}
	fmt.Fprintf(&b, "; alerts %d:", raised.total())
	sevs := alert.Severities()
	for i := len(sevs) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, " %s %d", sevs[i], raised[sevs[i]])
		if i > 0 {
			b.WriteByte(',')
		}
	}
	if n := raised.total() - printed.total(); n > 0 {
		fmt.Fprintf(&b, " (%d below --min-severity not printed)", n)
	}
	fmt.Fprintf(&b, "; suppressed as already raised %d", suppressed)
	return b.String()
}

// foldClauses breaks a summary line after its "; " and ", " separators so
// that no line is wider than width (a clause wider than width stays
// whole); lines after the first are indented.
func foldClauses(line string, width int) string {
	var b strings.Builder
	cur := 0
	for _, part := range clause.FindAllString(line, -1) {
		if part == "" {
			continue
		}
		if n := len([]rune(strings.TrimRight(part, " "))); cur > 2 && cur+n > width {
			b.WriteString("\n  ")
			cur = 2
		}
		b.WriteString(part)
		cur += len([]rune(part))
	}
	return strings.TrimRight(strings.ReplaceAll(b.String(), " \n", "\n"), " ")
}

// clause is one clause of a summary line, with the ", " or "; " ending it.
var clause = regexp.MustCompile(`.*?(?:[,;] |$)`)

// inputFiles checks the arguments scan and coverage share (at least one
// PATH, a --format among formats) and expands the paths into files; false
// means a usage error was printed.
func inputFiles(cmd, format string, formats, paths []string, stderr io.Writer) ([]string, bool) {
	switch {
	case len(paths) == 0:
		fmt.Fprintf(stderr, "azdetect %s: no PATH given (files or folders of exported logs)\n", cmd)
		return nil, false
	case !slices.Contains(formats, format):
		fmt.Fprintf(stderr, "azdetect %s: --format %q: want %s\n", cmd, format, strings.Join(formats, ", "))
		return nil, false
	}
	files, err := listFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect %s: %v\n", cmd, err)
		return nil, false
	}
	return files, true
}

// pathHour is the hour an exported blob's path names, as digits
// (YYYYMMDDHH, and MM when the path has its minute folder), or "": Azure's
// export writes .../y=2026/m=12/d=01/h=10/m=00/PT1H.json.
func pathHour(path string) string {
	parts := strings.Split(filepath.ToSlash(path), "/")
	keys := [...]string{"y=", "m=", "d=", "h=", "m="}
	widths := [...]int{4, 2, 2, 2, 2}
	for i := range parts {
		var b strings.Builder
		n := 0
		for n < len(keys) && i+n < len(parts) {
			v, ok := strings.CutPrefix(parts[i+n], keys[n])
			if !ok || v == "" || len(v) > widths[n] || strings.Trim(v, "0123456789") != "" {
				break
			}
			b.WriteString(strings.Repeat("0", widths[n]-len(v)))
			b.WriteString(v)
			n++
		}
		if n >= 4 {
			return b.String()
		}
	}
	return ""
}

// listFiles expands folders recursively into their regular files, in a
// stable order; hidden files and folders, and Markdown files, are skipped.
func listFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		from := len(files)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			// Folders of exported logs often carry a README; Markdown is
			// never a log (a file named on the command line is read as is).
			if d.Type().IsRegular() && !strings.EqualFold(filepath.Ext(name), ".md") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		// A folder's files in the order of the hour their path names (the
		// export's y=/m=/d=/h=/m= folders), then in path order: a container
		// holds each resource's hours under its own folder, and read in
		// path order every hour of one resource would come before the
		// first of the next, whose records would then find the windows
		// they share with the first swept (scan sweeps by event time) and
		// its sequences' earlier steps not yet seen.
		hours := make(map[string]string, len(files)-from)
		for _, f := range files[from:] {
			hours[f] = pathHour(f)
		}
		slices.SortStableFunc(files[from:], func(a, b string) int { return strings.Compare(hours[a], hours[b]) })
	}
	if len(files) == 0 {
		return nil, errors.New("no files found in the given paths")
	}
	return files, nil
}
