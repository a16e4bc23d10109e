package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/coverage"
	"github.com/azdetect/azdetect/internal/source"
)

// runCoverage is `azdetect coverage [--format table|json] PATH...`: which
// of the recommended log sources the exported files hold, and which are
// missing, overall and per subscription. It parses every record (streamed,
// never a whole file in memory) but evaluates no rule.
func runCoverage(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("coverage", flag.ContinueOnError)
	format := fset.String("format", defaultFormat(stdout), "output: table or json")
	if code, stop := parseFlags(fset, args, stdout, stderr); stop {
		return code
	}
	files, ok := inputFiles("coverage", *format, []string{"table", "json"}, fset.Args(), stderr)
	if !ok {
		return exitUsage
	}
	reg, err := source.NewRegistry()
	if err != nil {
		fmt.Fprintf(stderr, "azdetect coverage: %v\n", err)
		return exitUsage
	}
	log := zerolog.Ctx(ctx)
	var tally coverage.Tally
	records, unrecognised, malformed, ioErrors := 0, 0, 0, 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			log.Error().Err(err).Str("file", path).Msg("cannot open file")
			ioErrors++
			continue
		}
		err = source.Records(f, func(rec source.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			records++
			if rec.Err != nil {
				malformed++
				return nil
			}
			ev, status, _ := reg.Parse(rec.Bytes)
			switch status {
			case source.Parsed:
				tally.Add(ev)
			case source.Unrecognised:
				unrecognised++
			default:
				malformed++
			}
			return nil
		})
		f.Close()
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "azdetect coverage: %v\n", ctx.Err())
				return exitUsage
			}
			log.Error().Err(err).Str("file", path).Msg("cannot read file")
			ioErrors++
		}
	}
	rep := tally.Report()
	if *format == "json" {
		out := struct {
			Files        int `json:"files"`
			Records      int `json:"records"`
			Unrecognised int `json:"unrecognised"`
			Malformed    int `json:"malformed"`
			coverage.Report
			Missing []string `json:"missing"`
		}{len(files), records, unrecognised, malformed, rep, rep.Missing()}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "azdetect coverage: %v\n", err)
			return exitUsage
		}
	} else {
		printCoverage(stdout, rep)
	}
	fmt.Fprintf(stderr, "scanned %d file(s), %d record(s): not recognised %d; malformed %d; recommended sources missing %d of %d\n",
		len(files), records, unrecognised, malformed, len(rep.Missing()), len(rep.Recommended))
	if ioErrors > 0 {
		return exitUsage
	}
	return exitOK
}

func printCoverage(w io.Writer, rep coverage.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECOMMENDED SOURCE\tSCOPE\tSTATUS\tRECORDS\tNEEDED FOR")
	for _, s := range rep.Recommended {
		status := "MISSING"
		if s.Present {
			status = "present"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.Scope, status, s.Records, s.Why)
	}
	tw.Flush()
	if len(rep.Subscriptions) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBSCRIPTION\tACTIVITY LOG PRESENT\tACTIVITY LOG MISSING\tRESOURCE LOGS")
		for _, sub := range rep.Subscriptions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sub.Subscription, joinCounts(sub.Present), dash(strings.Join(sub.Missing, ", ")), joinCounts(sub.ResourceTypes))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tCATEGORY\tSUBSCRIPTION\tRESOURCE TYPE\tRECORDS")
	for _, r := range rep.Counts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Source, dash(r.Category), dash(r.Subscription), dash(r.ResourceType), r.Records)
	}
	tw.Flush()
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return dash(strings.Join(parts, ", "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
