// Command azdetect is a detection engine for Azure security logs: an Azure
// Functions custom handler (serve), an offline scanner for exported logs
// (scan), a local stand-in for the Functions host (replay) and the rule
// tooling (rules).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitAlerts  = 1 // scan --fail-on: an alert at or above the severity fired
	exitUsage   = 2 // usage, configuration or I/O error
	exitFailure = 3 // serve or replay failed after start
)

const usage = `azdetect: detection engine for Azure security logs

Usage:
  azdetect scan [--format table|json] [--fail-on SEVERITY] [--dead-letter FILE] PATH...
  azdetect serve
  azdetect replay --url URL [--function NAME] PATH...
  azdetect replay --app DIR [--settings FILE] [--function NAME] [PATH...]   (run a staged package as the host does)
  azdetect coverage [--format table|json] PATH...   (which recommended log sources the files hold)
  azdetect rules list [--format table|json]
  azdetect rules test
  azdetect alerts tail [--subscription NAME] [--format table|json] [--count N] [--idle DURATION]
  azdetect version

Settings are read from AZDETECT_* environment variables (see README).
`

var version = "dev"

func main() {
	root := zerolog.New(os.Stderr).With().Timestamp().Logger()
	zerolog.DefaultContextLogger = &root
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "azdetect", version)
		return exitOK
	}

	settings, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "azdetect: bad configuration: %v\n", err)
		return exitUsage
	}
	log := newLogger(stderr, settings.LogLevel, cmd == "serve")
	// Code below reads the logger from ctx. main sets the process default
	// once (for a context that lost it); run does not, so that tests calling
	// run concurrently do not share one another's writers.

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = log.WithContext(ctx)

	switch cmd {
	case "scan":
		return runScan(ctx, settings, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, settings, rest, stderr)
	case "replay":
		return runReplay(ctx, settings, rest, stdout, stderr)
	case "rules":
		return runRules(ctx, settings, rest, stdout, stderr)
	case "coverage":
		return runCoverage(ctx, settings, rest, stdout, stderr)
	case "alerts":
		return runAlerts(ctx, settings, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "azdetect: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// newLogger builds the root logger: JSON on stderr for serve (the host reads
// it) and whenever stderr is not a terminal; a console writer on a terminal.
func newLogger(w io.Writer, level string, serve bool) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	out := w
	if f, ok := w.(*os.File); ok && !serve && isatty.IsTerminal(f.Fd()) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// usageError marks errors that are the caller's (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}
