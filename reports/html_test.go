package reports

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func renderHTML(t *testing.T, r *Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// remote matches anything that would make a browser fetch or run something:
// scripts, external style sheets, images, fonts, frames, CSS imports and URLs.
var remote = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|@import|@font-face|url\(|\ssrc=|\son[a-z]+=|href="(https?:|//)`)

func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	for name, r := range map[string]*Run{"fixture": fixtureRun(), "empty": {Command: "check", Tool: NewTool()}} {
		t.Run(name, func(t *testing.T) {
			page := string(renderHTML(t, r))
			if m := remote.FindString(page); m != "" {
				t.Errorf("the report is not self-contained: %q", m)
			}
			for _, want := range []string{"<!DOCTYPE html>", `<meta charset="utf-8">`, "<style>", "@media print"} {
				if !strings.Contains(page, want) {
					t.Errorf("lacks %q", want)
				}
			}
			// Summary first, then the checks, then conformance.
			s, c, k := strings.Index(page, `id="summary"`), strings.Index(page, `id="checks"`), strings.Index(page, `id="conformance"`)
			if !(s >= 0 && s < c && c < k) {
				t.Errorf("sections out of order: summary %d, checks %d, conformance %d", s, c, k)
			}
		})
	}
	page := string(renderHTML(t, fixtureRun()))
	for _, want := range []string{
		"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", // evidence from a server, escaped
		"resolves, but only to IPv6 &lt;::1&gt; &amp; nothing else",
		"What to do", "Ask the service desk for a certificate for this mailbox.<br>Then point MESH_KEYSTORE at it.",
		"https://msg.intspineservices.nhs.uk", ">int<", ">internet<", "meshdoctor v1.2.3", "2026-11-29 06:00:00 UTC", "FAILED",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// chromium is Debian's headless browser, when installed (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("chromium not installed (apt-get install chromium): the HTML report is not rendered in a browser")
	return ""
}

// runChromium runs headless chromium, offline, in a throw-away profile.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	home := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(home, "profile")}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestHTMLInBrowser renders the report in a real browser: the DOM it builds
// holds the summary, every check and its evidence, no element a value
// smuggled in, and the page prints to PDF.
func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, renderHTML(t, fixtureRun()), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path
	dom := string(runChromium(t, bin, "--dump-dom", url))
	for _, want := range []string{
		"MESH connection evidence report", "FAILED", "2 passed, 1 warned, 1 failed, 1 skipped, 1 error",
		"The MESH host name resolves", "MESH accepts our client certificate (mutual TLS)",
		"Ask the service desk", "[REDACTED]", "&lt;script&gt;alert('x')&lt;/script&gt;",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if n := strings.Count(dom, "<script"); n != 0 {
		t.Errorf("the rendered page has %d script elements", n)
	}
	if n := strings.Count(dom, `<article class="check`); n != len(fixtureRun().Checks) {
		t.Errorf("the rendered page has %d checks, want %d", n, len(fixtureRun().Checks))
	}
	assertNoSecret(t, "rendered DOM", []byte(dom))
	// The catalogue with its results, the filter's leftovers marked so.
	conf := filepath.Join(dir, "run.html")
	if err := os.WriteFile(conf, renderHTML(t, fixtureConformanceRun()), 0o644); err != nil {
		t.Fatal(err)
	}
	dom = string(runChromium(t, bin, "--dump-dom", "file://"+conf))
	for _, want := range []string{"MESH-SEND-001", "MESH MUST refuse a replayed token.", "timedout", "not selected", "MESH-PAGE-001", "Clean-up: 2 message(s) sent"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered catalogue lacks %q", want)
		}
	}
	assertNoSecret(t, "rendered DOM of a run", []byte(dom))
	pdf := filepath.Join(dir, "report.pdf")
	runChromium(t, bin, "--no-pdf-header-footer", "--print-to-pdf="+pdf, url)
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) || len(b) < 10_000 {
		t.Errorf("printing to PDF gave %d bytes starting %q", len(b), b[:min(8, len(b))])
	}
}
