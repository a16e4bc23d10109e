package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumBinary finds headless Chromium (Debian's chromium; .ci/run
// installs it). Missing, the test fails in CI and skips, saying why,
// elsewhere.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("CHROMIUM_REQUIRED") != "" {
		t.Fatal("chromium is not installed but CI or CHROMIUM_REQUIRED is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the HTML report is checked in a real browser in CI")
	return ""
}

// renderDOM opens file in headless Chromium and returns the DOM after the
// page's scripts ran.
func renderDOM(t *testing.T, chromium, file string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Chromium's helpers (zygote, crashpad) share its process group: end
	// them all with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", file, err, lastLines(stderr.String(), 20))
	}
	return stdout.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	jsAlertCount = regexp.MustCompile(`id="js-alert-count">(\d+)<`)
	entityHead   = regexp.MustCompile(`<section class="entity" id="[^"]*" data-kind="([a-z]+)" data-name="([^"]+)" data-alerts="(\d+)">`)
)

// TestHTMLReportInChromium: scan --format html testdata/demo makes one
// self-contained file that a real browser renders with every alert scan
// --format json raises, an entity's section, the coverage and no script
// error.
func TestHTMLReportInChromium(t *testing.T) {
	chromium := chromiumBinary(t)
	alerts, stderr, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(alerts) == 0 {
		t.Fatalf("json scan: exit %d, %d alerts: %s", code, len(alerts), stderr)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	var stdout, errb bytes.Buffer
	if code := run([]string{"scan", "--out", file, "../testdata/demo"}, nil, &stdout, &errb); code != exitOK {
		t.Fatalf("html scan: exit %d: %s", code, errb.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("--out FILE wrote to stdout too: %q", stdout.String())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, bad := range []string{`src="http`, `<link`, `@import`, `url(http`} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("report loads from the network: contains %q", bad)
		}
	}

	dom := renderDOM(t, chromium, file)
	if !strings.Contains(dom, `data-rendered="yes"`) {
		t.Fatalf("the page's script did not finish:\n%s", lastLines(dom, 10))
	}
	if strings.Contains(dom, `data-script-errors="yes"`) {
		i := strings.Index(dom, `id="script-errors"`)
		t.Errorf("script errors: %s", dom[i:min(len(dom), i+500)])
	}
	m := jsAlertCount.FindStringSubmatch(dom)
	if m == nil {
		t.Fatal("no alert count written by the page's script")
	}
	if n, _ := strconv.Atoi(m[1]); n != len(alerts) {
		t.Errorf("browser shows %d alerts in the timeline, scan --format json raised %d", n, len(alerts))
	}
	entities := map[string]int{}
	for _, e := range entityHead.FindAllStringSubmatch(dom, -1) {
		entities[e[1]+" "+e[2]], _ = strconv.Atoi(e[3])
	}
	for _, want := range []string{"user marek.nowak@tailspintoys.com", "address 185.220.101.47", "address 45.137.21.9"} {
		if entities[want] == 0 {
			t.Errorf("no section (or no alert) for %s; sections: %d", want, len(entities))
		}
	}
	for _, want := range []string{"Coverage of the logs read", "Entra ID service principal sign-ins", "False positives", "https://attack.mitre.org/techniques/T1110/003/", "1.1 GB"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}

	// The check sees a script error when there is one.
	broken := filepath.Join(filepath.Dir(file), "broken.html")
	if err := os.WriteFile(broken, bytes.Replace(raw, []byte("</body>"), []byte("<script>noSuchFunction();</script></body>"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if dom := renderDOM(t, chromium, broken); !strings.Contains(dom, `data-script-errors="yes"`) || !strings.Contains(dom, "noSuchFunction") {
		t.Error("a script error in the page is not shown in #script-errors")
	}
}
