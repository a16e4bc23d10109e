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
	"sort"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline"
)

// runScan runs the engine over exported log files with in-memory state and
// prints the alerts: the incident responder's use, and the embedded default.
func runScan(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("scan", flag.ContinueOnError)
	fset.SetOutput(stderr)
	format := fset.String("format", defaultFormat(stdout), "output: table or json (one alert per line)")
	failOn := fset.String("fail-on", "", "exit 1 when an alert at or above this severity fired")
	deadLetter := fset.String("dead-letter", s.DeadLetterFile, "JSON-lines file for malformed records (created only when there is one)")
	minSev := fset.String("min-severity", s.MinSeverity, "lowest severity printed")
	if err := fset.Parse(args); err != nil {
		return exitUsage
	}
	switch {
	case *failOn != "" && alert.Rank(*failOn) == 0:
		fmt.Fprintf(stderr, "azdetect scan: --fail-on %q: want one of %s\n", *failOn, strings.Join(alert.Severities(), ", "))
		return exitUsage
	case alert.Rank(*minSev) == 0:
		fmt.Fprintf(stderr, "azdetect scan: --min-severity %q: want one of %s\n", *minSev, strings.Join(alert.Severities(), ", "))
		return exitUsage
	}
	files, ok := inputFiles("scan", *format, fset.Args(), stderr)
	if !ok {
		return exitUsage
	}
	log := zerolog.Ctx(ctx)
	store, err := openState(s)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}
	reg, eng, _, err := engine(s, detect.WithStore(store))
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}

	// The summary counts every alert; the output gets those at or above
	// --min-severity: as JSON lines as they come, or a table at the end.
	var collected alert.Collector
	var printed, raised severityCount
	var out alert.Sink = &collected
	if *format == "json" {
		out = alert.NewJSONLines(stdout)
	}
	sink := alert.Fanout{
		{Sink: &raised, Name: "summary"},
		{Sink: alert.Fanout{{Sink: out, Name: "output"}, {Sink: &printed, Name: "printed"}}, MinSeverity: *minSev, Name: "output"},
	}
	dead := alert.NewDeadLetterFile(*deadLetter)
	defer dead.Close()
	p, err := pipeline.New(pipeline.Options{
		Registry: reg, Engine: eng, Sink: sink, DeadLetters: dead, BatchLogLevel: zerolog.DebugLevel,
		Suppressor: suppressor(s, store), OmitAlerts: true,
	})
	if err != nil {
		fmt.Fprintf(stderr, "azdetect scan: %v\n", err)
		return exitUsage
	}

	total := pipeline.Report{BySource: map[string]int{}}
	ioErrors := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			log.Error().Err(err).Str("file", path).Msg("cannot open file")
			ioErrors++
			continue
		}
		rep, err := p.Run(ctx, []pipeline.Input{{Origin: path, Body: f}})
		f.Close()
		total.Add(rep)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "azdetect scan: interrupted")
				return exitUsage
			}
			log.Error().Err(err).Str("file", path).Msg("scan failed")
			ioErrors++
		}
	}

	if *format == "table" {
		if len(collected.Alerts) > 0 {
			if err := alert.WriteTable(stdout, collected.Alerts); err != nil {
				ioErrors++
			}
		} else {
			fmt.Fprintln(stdout, "No alerts.")
		}
	}
	fmt.Fprintln(stderr, summaryLine(len(files), total, raised, printed, dead))
	switch {
	case ioErrors > 0:
		return exitUsage
	case *failOn != "" && raised.atLeast(*failOn):
		return exitAlerts
	}
	return exitOK
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
	for _, a := range alerts {
		(*c)[a.Severity]++
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
func summaryLine(files int, rep pipeline.Report, raised, printed severityCount, dead *alert.DeadLetterFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d file(s), %d record(s):", files, rep.Records)
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
	return b.String()
}

// inputFiles checks the arguments scan and coverage share (at least one
// PATH, --format table or json) and expands the paths into files; false
// means a usage error was printed.
func inputFiles(cmd, format string, paths []string, stderr io.Writer) ([]string, bool) {
	switch {
	case len(paths) == 0:
		fmt.Fprintf(stderr, "azdetect %s: no PATH given (files or folders of exported logs)\n", cmd)
		return nil, false
	case format != "table" && format != "json":
		fmt.Fprintf(stderr, "azdetect %s: --format %q: want table or json\n", cmd, format)
		return nil, false
	}
	files, err := listFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect %s: %v\n", cmd, err)
		return nil, false
	}
	return files, true
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
	}
	if len(files) == 0 {
		return nil, errors.New("no files found in the given paths")
	}
	return files, nil
}
