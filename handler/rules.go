package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
)

// runRules lists the loaded rules or runs the test cases each rule carries.
func runRules(_ context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "azdetect rules: want a subcommand: list or test (azdetect help rules)")
		return exitUsage
	}
	var fset *flag.FlagSet
	var format *string
	switch args[0] {
	case "-h", "-help", "--help":
		printHelp(stdout, "rules", nil)
		return exitOK
	case "list":
		fset = flag.NewFlagSet("rules list", flag.ContinueOnError)
		format = fset.String("format", "table", "output: table or json (one rule per line)")
	case "test":
		fset = flag.NewFlagSet("rules test", flag.ContinueOnError)
	default:
		fmt.Fprintf(stderr, "azdetect rules: unknown subcommand %q: want list or test\n", args[0])
		return exitUsage
	}
	if code, stop := parseFlags(fset, args[1:], stdout, stderr); stop {
		return code
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "azdetect %s: unexpected arguments %q\n", fset.Name(), fset.Args())
		return exitUsage
	}
	reg, _, rules, err := engine(s)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect rules: %v\n", err)
		return exitUsage
	}
	if args[0] == "list" {
		return listRules(rules, *format, stdout, stderr)
	}
	return testRules(rules, reg, stdout)
}

type ruleRow struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"` // what AZDETECT_RULE_OVERRIDES takes beside the id
	Title      string   `json:"title"`
	Level      string   `json:"level"`
	Service    string   `json:"service"`
	Kind       string   `json:"kind"` // match, event_count, value_count, new_term, spike, sequence
	Techniques []string `json:"techniques"`
	Tests      int      `json:"tests"`
}

func listRules(rules []*detect.Rule, format string, stdout, stderr io.Writer) int {
	rows := make([]ruleRow, 0, len(rules))
	for _, r := range rules {
		tests, err := r.Tests()
		if err != nil { // listed with 0 tests; `rules test` fails it
			fmt.Fprintf(stderr, "azdetect rules list: %v\n", err)
		}
		rows = append(rows, ruleRow{ID: r.ID, Name: r.Name, Title: r.Title, Level: r.Level, Service: r.Service(), Kind: r.Kind.Name(),
			Techniques: r.Techniques(), Tests: len(tests)})
	}
	switch format {
	case "json":
		enc := json.NewEncoder(stdout)
		for _, row := range rows {
			if err := enc.Encode(row); err != nil {
				return exitUsage
			}
		}
	case "table":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tLEVEL\tSERVICE\tKIND\tTECHNIQUE\tTESTS\tTITLE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, dash(r.Name), r.Level, r.Service, r.Kind, strings.Join(r.Techniques, ","), r.Tests, r.Title)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d rules (AZDETECT_RULE_OVERRIDES takes a stateful rule's id or name; AZDETECT_DISABLED_RULES takes ids)\n", len(rows))
	default:
		fmt.Fprintf(stderr, "azdetect rules list: --format %q: want table or json\n", format)
		return exitUsage
	}
	return exitOK
}

// parser adapts the source registry to the rule tests: a record a test
// gives must parse, or the test fails with the reason.
func parser(reg *source.Registry) func(raw []byte) (*event.Event, error) {
	return func(raw []byte) (*event.Event, error) {
		ev, status, err := reg.Parse(raw)
		switch status {
		case source.Parsed:
			return ev, nil
		case source.Unrecognised:
			return nil, fmt.Errorf("record not recognised by any source")
		default:
			return nil, fmt.Errorf("malformed record: %v", err)
		}
	}
}

func testRules(rules []*detect.Rule, reg *source.Registry, stdout io.Writer) int {
	results := detect.RunTestsWith(rules, parser(reg), detect.TestOptions{Expand: reg.Expand})
	failed := 0
	for _, r := range results {
		if r.OK() {
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL %s\n", r)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return exitAlerts
	}
	return exitOK
}
