package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCommandAnswersHelp: -h, --help and `help COMMAND` print the
// command's usage on stdout and exit 0, whatever the command.
func TestEveryCommandAnswersHelp(t *testing.T) {
	for _, c := range commands {
		for _, form := range [][]string{
			append(strings.Fields(c.name), "-h"),
			append(strings.Fields(c.name), "--help"),
			append([]string{"help"}, strings.Fields(c.name)...),
		} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(form, nil, &stdout, &stderr)
				if code != exitOK {
					t.Fatalf("exit %d, want 0; stderr: %s", code, stderr.String())
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr: %s", stderr.String())
				}
				want := "Usage: azdetect " + c.name
				if c.name == "help" {
					want = "Usage:\n  azdetect scan"
				}
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			})
		}
	}
}

var synopsisFlag = regexp.MustCompile(`--([a-z-]+)`)

var flagLine = regexp.MustCompile(`(?m)^  -([a-z-]+)`)

// TestUsageListsEveryFlag: the top-level usage and each command's synopsis
// name every flag the command parses (read from its -h, which prints the
// flag set itself).
func TestUsageListsEveryFlag(t *testing.T) {
	top := usage()
	for _, want := range []string{"--min-severity", "help [COMMAND]", "version"} {
		if !strings.Contains(top, want) {
			t.Errorf("top-level usage lacks %q", want)
		}
	}
	for _, c := range commands {
		if c.name != "rules" && c.name != "alerts" && !strings.Contains(top, "azdetect "+c.name) {
			t.Errorf("top-level usage lacks the command %q", c.name)
		}
		var stdout, stderr bytes.Buffer
		run(append(strings.Fields(c.name), "-h"), nil, &stdout, &stderr)
		for _, m := range synopsisFlag.FindAllStringSubmatch(c.synopsis, -1) {
			if !strings.Contains(stdout.String(), "\n  -"+m[1]+" ") && !strings.Contains(stdout.String(), "\n  -"+m[1]+"\n") {
				t.Errorf("%s: synopsis names --%s but the command does not parse it", c.name, m[1])
			}
		}
		for _, m := range flagLine.FindAllStringSubmatch(stdout.String(), -1) {
			flag := "--" + m[1]
			if !strings.Contains(c.synopsis, flag) {
				t.Errorf("%s parses %s but its synopsis %q lacks it", c.name, flag, c.synopsis)
			}
			if !strings.Contains(top, flag) {
				t.Errorf("%s parses %s but the top-level usage lacks it", c.name, flag)
			}
		}
	}
}

// TestErrorsNameTheFlagOrSetting: a bad flag or setting is one plain line
// naming it, exit 2; help still answers with a bad setting.
func TestErrorsNameTheFlagOrSetting(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"scan", "--colour", "x"}, "-colour"},
		{"bad duration flag", nil, []string{"alerts", "tail", "--idle", "soon"}, `invalid value "soon" for flag -idle: want a duration`},
		{"rules test takes no flag", nil, []string{"rules", "test", "--fast"}, "-fast"},
		{"unknown command", nil, []string{"scna"}, `"scna"`},
		{"unknown help topic", nil, []string{"help", "scna"}, `"scna"`},
		{"bad duration setting", map[string]string{"AZDETECT_SUPPRESSION_WINDOW": "abc"}, []string{"scan", "../testdata/demo"}, "AZDETECT_SUPPRESSION_WINDOW"},
		{"bad port", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "abc"}, []string{"serve"}, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"version takes no argument", nil, []string{"version", "now"}, "version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, nil, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q: want one line naming %s", msg, tc.want)
			}
			if strings.Contains(msg, "envconfig") || strings.Contains(msg, "Usage") {
				t.Errorf("stderr shows internals or the whole usage: %q", msg)
			}
		})
	}
	t.Run("help with a bad setting", func(t *testing.T) {
		t.Setenv("AZDETECT_SUPPRESSION_WINDOW", "abc")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"scan", "-h"}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "Usage: azdetect scan") {
			t.Errorf("scan -h with a bad setting: exit %d, stdout %q", code, stdout.String())
		}
	})
}
