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
// invocations and posts them to a running handler (--url), or runs a staged
// app package the way the host does (--app DIR: starts the executable
// host.json names and invokes every function the host finds).
func runReplay(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("replay", flag.ContinueOnError)
	url := fset.String("url", "http://127.0.0.1:"+s.Port, "base URL of the running handler")
	function := fset.String("function", "", "function to invoke: ingest-eventhub (the default), ingest-blob or maintenance; with --app, every function unless named")
	app := fset.String("app", "", "app package folder (dist/app from `make package`): start its handler as the Functions host does and invoke each function")
	settings := fset.String("settings", "", "with --app: local.settings.json whose Values the handler gets (default: DIR/local.settings.json when present)")
	if code, stop := parseFlags(fset, args, stdout, stderr); stop {
		return code
	}
	paths := fset.Args()
	if *app != "" {
		return replayApp(ctx, *app, *settings, *function, paths, stdout, stderr)
	}
	if *function == "" {
		*function = invoke.FunctionEventHub
	}
	if len(paths) == 0 && *function != invoke.FunctionMaintenance {
		fmt.Fprintln(stderr, "azdetect replay: no PATH given (files or folders of exported logs)")
		return exitUsage
	}
	rep, err := invoke.Replay(ctx, invoke.ReplayOptions{
		URL: strings.TrimRight(*url, "/"), Function: *function,
		FunctionsDir: invoke.FunctionsRoot(".", s.FunctionsDir), Paths: paths,
	})
	printInvocations(stdout, rep.Invocations)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect replay: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "replayed %d file(s), %d record(s) in %d invocation(s)\n", rep.Files, rep.Records, len(rep.Invocations))
	return exitOK
}

func printInvocations(w io.Writer, invs []invoke.ReplayInvocation) {
	for _, inv := range invs {
		fmt.Fprintf(w, "%s %s: HTTP %d, %d event(s), %d record(s), %d bytes, %s\n",
			inv.Function, inv.InvocationID, inv.Status, inv.Events, inv.Records, inv.RequestBytes, inv.Duration.Round(1e6))
		for _, l := range inv.Logs {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// replayApp is replay --app: the handler's own output goes to stderr, each
// line with the level the host would give it.
func replayApp(ctx context.Context, dir, settings, function string, paths []string, stdout, stderr io.Writer) int {
	rep, err := invoke.ReplayApp(ctx, invoke.AppOptions{
		Dir: dir, SettingsFile: settings, Function: function, Paths: paths, Output: stderr,
	})
	if rep.Executable != "" {
		fmt.Fprintf(stdout, "app %s: handler %s %s, %d function(s) found as the host finds them\n",
			dir, rep.Executable, strings.Join(rep.Arguments, " "), len(rep.Functions))
	}
	for _, fn := range rep.Functions {
		fmt.Fprintf(stdout, "  %s (%s)\n", fn.Name, fn.Trigger)
	}
	printInvocations(stdout, rep.Invocations)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect replay: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "replayed the app: %d invocation(s), every answer as the host requires; handler exit %d\n", len(rep.Invocations), rep.ExitCode)
	return exitOK
}
