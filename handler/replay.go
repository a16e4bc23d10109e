package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
)

// runReplay plays the Functions host: it wraps log files into host-shaped
// invocations and posts them to a running handler.
func runReplay(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("replay", flag.ContinueOnError)
	url := fset.String("url", "http://127.0.0.1:"+s.Port, "base URL of the running handler")
	function := fset.String("function", "ingest-eventhub", "function to invoke: ingest-eventhub, ingest-blob or maintenance")
	if code, stop := parseFlags(fset, args, stdout, stderr); stop {
		return code
	}
	paths := fset.Args()
	if len(paths) == 0 && *function != "maintenance" {
		fmt.Fprintln(stderr, "azdetect replay: no PATH given (files or folders of exported logs)")
		return exitUsage
	}
	rep, err := invoke.Replay(ctx, invoke.ReplayOptions{
		URL: strings.TrimRight(*url, "/"), Function: *function, FunctionsDir: s.FunctionsDir, Paths: paths,
	})
	for _, inv := range rep.Invocations {
		fmt.Fprintf(stdout, "%s %s: HTTP %d, %d event(s), %d record(s), %d bytes, %s\n",
			inv.Function, inv.InvocationID, inv.Status, inv.Events, inv.Records, inv.RequestBytes, inv.Duration.Round(1e6))
		for _, l := range inv.Logs {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "azdetect replay: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "replayed %d file(s), %d record(s) in %d invocation(s)\n", rep.Files, rep.Records, len(rep.Invocations))
	return exitOK
}
