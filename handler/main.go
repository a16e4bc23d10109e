// Command azdetect is a detection engine for Azure security logs: an Azure
// Functions custom handler (serve), an offline scanner for exported logs
// (scan), a local stand-in for the Functions host (replay) and the rule
// tooling (rules).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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

// command is one subcommand as its help shows it.
type command struct {
	name     string // "scan", "rules list"
	synopsis string // its arguments, every flag included
	about    string // what it does
}

// commands are listed in the top-level usage in this order; every flag of
// every command appears in its synopsis (a test checks it against the
// flags the command parses).
var commands = []command{
	{"scan", "[--format table|json|html] [--out FILE] [--sort time|severity] [--min-severity SEVERITY] [--fail-on SEVERITY] [--dead-letter FILE] [--progress auto|always|never] PATH...",
		"Run the rules over exported log files or folders (in-memory state unless AZDETECT_STATE=table) and print the alerts: a table on a terminal, JSON lines otherwise, or one self-contained HTML report."},
	{"serve", "",
		"Run as the Azure Functions custom handler: listen on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT and answer the host's invocations until SIGTERM. Takes no arguments: settings come from the environment."},
	{"replay", "[--url URL] [--function ingest-eventhub|ingest-blob|maintenance] PATH... | --app DIR [--settings FILE] [--function NAME] [PATH...]",
		"Play the Functions host: wrap log files into host-shaped invocations and post them to a running handler (--url), or run a staged app package (make package) the way the host does: start the executable host.json names, find the functions as the host finds them and invoke each."},
	{"coverage", "[--format table|json] PATH...",
		"Say which of the recommended log sources the files hold, and which are missing, overall and per subscription."},
	{"rules", "list|test",
		"The rule tooling: list the loaded rules, or run the test cases each rule carries."},
	{"rules list", "[--format table|json]",
		"List the loaded rules (embedded and AZDETECT_RULES_DIR): id, name (AZDETECT_RULE_OVERRIDES takes either), level, service, kind, technique, tests, title."},
	{"rules test", "",
		"Run every rule's own test cases; exit 1 when one fails."},
	{"alerts", "tail",
		"Read alerts back from Service Bus."},
	{"alerts tail", "[--entity NAME] [--subscription NAME] [--format table|json] [--count N] [--idle DURATION]",
		"Receive alerts from the Service Bus queue or topic subscription, print each and complete its message; exit 3 when the entity cannot be reached."},
	{"help", "[COMMAND]", "Print the usage of azdetect or of one command."},
	{"version", "", "Print the version."},
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is the top-level usage: every command with every flag.
func usage() string {
	var b strings.Builder
	b.WriteString("azdetect: detection engine for Azure security logs\n\nUsage:\n")
	for _, c := range commands {
		if c.name == "rules" || c.name == "alerts" {
			continue // their subcommands are listed
		}
		line := "  azdetect " + c.name
		if c.synopsis != "" {
			line += " " + c.synopsis
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(`
Every command answers -h or --help with its usage; "azdetect help COMMAND" does the same.
Severities: informational, low, medium, high, critical.
Settings are read from AZDETECT_* environment variables (see README).
Exit codes: 0 ok; 1 scan --fail-on matched or a rule test failed; 2 usage, configuration or input error; 3 serve, replay or alerts tail failed.
`)
	return b.String()
}

// printHelp writes one command's usage: its synopsis, what it does and its
// flags (fset nil: it has none).
func printHelp(w io.Writer, name string, fset *flag.FlagSet) {
	c, _ := lookupCommand(name)
	fmt.Fprintf(w, "Usage: azdetect %s", name)
	if c.synopsis != "" {
		fmt.Fprintf(w, " %s", c.synopsis)
	}
	fmt.Fprintf(w, "\n\n%s\n", wrapText(c.about, 78))
	hasFlags := false
	if fset != nil {
		fset.VisitAll(func(*flag.Flag) { hasFlags = true })
	}
	if hasFlags {
		fmt.Fprintln(w, "\nFlags (-flag or --flag):")
		fset.SetOutput(w)
		fset.PrintDefaults()
	}
}

// wrapText folds text at spaces to lines of at most width characters.
func wrapText(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && n+1+len(word) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// parseFlags parses a command's flags: -h or --help prints its usage on
// stdout (exit 0), a bad flag prints one line naming it (exit 2). stop
// says the command must return code now.
func parseFlags(fset *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, stop bool) {
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	err := fset.Parse(args)
	switch {
	case err == nil:
		return exitOK, false
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, fset.Name(), fset)
		return exitOK, true
	default:
		fmt.Fprintf(stderr, "azdetect %s: %v (azdetect help %s)\n", fset.Name(), err, fset.Name())
		return exitUsage, true
	}
}

// durationFlag is a duration flag whose error says what it takes.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want a duration such as 30s, 5m or 1h")
	}
	*f.d = d
	return nil
}

// durationVar defines a duration flag (see durationFlag).
func durationVar(fset *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fset.Var(durationFlag{&d}, name, usage)
	return &d
}

// helpRequested says whether args ask for help (-h, -help or --help before
// a "--").
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// runHelp is `azdetect help [COMMAND [SUBCOMMAND]]`.
func runHelp(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || helpRequested(args) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	if _, ok := lookupCommand(strings.Join(args, " ")); !ok {
		fmt.Fprintf(stderr, "azdetect help: unknown command %q\n", strings.Join(args, " "))
		return exitUsage
	}
	if args[0] == "help" {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	return run(append(append([]string{}, args...), "-h"), stdin, stdout, stderr)
}

var version = "dev"

func main() {
	root := zerolog.New(os.Stderr).With().Timestamp().Logger()
	zerolog.DefaultContextLogger = &root
	limitScanMemory(os.Args[1:]) // here, not in run: a test's process keeps its own
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	help := helpRequested(rest)
	switch {
	case cmd == "-h" || cmd == "-help" || cmd == "--help":
		fmt.Fprint(stdout, usage())
		return exitOK
	case cmd == "help":
		return runHelp(rest, stdin, stdout, stderr)
	case cmd == "version" || cmd == "--version":
		if help {
			printHelp(stdout, "version", nil)
			return exitOK
		}
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "azdetect version: takes no arguments, got %q\n", rest)
			return exitUsage
		}
		fmt.Fprintln(stdout, "azdetect", version)
		return exitOK
	case cmd == "serve" && help:
		printHelp(stdout, "serve", nil)
		return exitOK
	}
	if _, ok := lookupCommand(cmd); !ok {
		fmt.Fprintf(stderr, "azdetect: unknown command %q (azdetect help lists them)\n", cmd)
		return exitUsage
	}

	settings, err := config.Load()
	if err != nil && !help {
		// One line per setting at fault, each naming it.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "azdetect: bad configuration: %s\n", line)
		}
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
		fmt.Fprintf(stderr, "azdetect: unknown command %q (azdetect help lists them)\n", cmd)
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
