package reports

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/checks"
)

// TestGolden renders the fixture in every format and compares each with its
// golden file; none may show a secret.
func TestGolden(t *testing.T) {
	tests := []struct {
		file  string
		write func(io.Writer, *Run) error
	}{
		{"run.txt", func(w io.Writer, r *Run) error { return WriteText(w, r, TextOptions{}) }},
		{"run-verbose.txt", func(w io.Writer, r *Run) error { return WriteText(w, r, TextOptions{Verbose: true}) }},
		{"run-color.txt", func(w io.Writer, r *Run) error { return WriteText(w, r, TextOptions{Color: true}) }},
		{"run.json", WriteJSON},
		{"junit.xml", WriteJUnit},
		{"report.html", WriteHTML},
		{"log.txt", WriteLog},
	}
	for _, fixture := range []struct {
		prefix string
		run    func() *Run
	}{{"", fixtureRun}, {"conformance-", fixtureConformanceRun}} {
		for _, tt := range tests {
			name := fixture.prefix + tt.file
			t.Run(name, func(t *testing.T) {
				var b bytes.Buffer
				if err := tt.write(&b, fixture.run()); err != nil {
					t.Fatal(err)
				}
				assertNoSecret(t, name, b.Bytes())
				golden(t, name, b.Bytes())
			})
		}
	}
}

// TestConformanceVerdict: a run passes only if its specs do too, and the
// text ends with the closing line of checks and specs together.
func TestConformanceVerdict(t *testing.T) {
	r := fixtureConformanceRun()
	if r.Summary.OK {
		t.Error("a run with a failed spec is OK")
	}
	var b bytes.Buffer
	if err := WriteText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	// Checks: 2 passed, 1 warned; specs: 1 passed, 2 bad (failed, timed
	// out), 1 skipped (the one not selected is not counted).
	if got, want := lines[len(lines)-1], "3 passed, 1 warned, 2 failed, 1 skipped"; got != want {
		t.Errorf("closing line %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "MESH-PAGE-001") {
		t.Error("a spec the filter left out is listed in the text")
	}
}

func TestTextEndsWithSummaryLine(t *testing.T) {
	for _, r := range []*Run{fixtureRun(), {Command: "check"}} {
		var b bytes.Buffer
		if err := WriteText(&b, r, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, checks.Summarize(r.Checks).Line()) {
			t.Errorf("last line %q is not the summary line", last)
		}
	}
}

func TestTextColourOnlyWhenAsked(t *testing.T) {
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteText(&b, fixtureRun(), TextOptions{Color: color}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "\x1b["); got != color {
			t.Errorf("Color %v: escape sequences present = %v", color, got)
		}
	}
}

// TestJSONKeepsItsMembers pins the public member names of the schema-1
// document: CI pipelines read them.
func TestJSONKeepsItsMembers(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixtureRun()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"schema", "tool", "command", "target", "started", "duration_ms", "checks", "summary"} {
		if _, ok := doc[m]; !ok {
			t.Errorf("member %q is missing", m)
		}
	}
	var back struct {
		Checks []checks.Result `json:"checks"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Checks) != len(fixtureRun().Checks) || back.Checks[2].Duration.Milliseconds() != 0 || back.Checks[3].Evidence == nil {
		t.Errorf("checks do not read back: %+v", back.Checks)
	}
}

func TestWriteDirWritesEveryReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports", "nested")
	if err := WriteDir(dir, fixtureRun()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", e.Name())
		}
		assertNoSecret(t, e.Name(), b)
	}
	if got, want := strings.Join(names, " "), "junit.xml report.html report.json report.txt"; got != want {
		t.Errorf("files %q, want %q (and no temporary file left)", got, want)
	}
}

func TestBundle(t *testing.T) {
	var b bytes.Buffer
	info := BundleInfo{OS: "TestOS 1.0", ProxyVariables: []string{"https_proxy", "HTTPS_PROXY"}}
	if err := WriteBundle(&b, fixtureRun(), info); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "bundle (compressed)", b.Bytes())
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "bundle entry "+f.Name, body)
		files[f.Name] = string(body)
	}
	for name, wants := range map[string][]string{
		"README.txt":        {"support bundle", "1 failed"},
		"report.json":       {`"schema": 1`, `"tls.client-auth"`},
		"config.json":       {`"password": "set, from MESH_MAILBOX_PASSWORD"`, `"shared_key": "set, from MESH_SHARED_KEY_FILE /run/secrets/mesh-key"`, `"keystore": "/etc/mesh/int.p12"`},
		"system.json":       {`"version": "v1.2.3"`, `"os": "TestOS 1.0"`, `"HTTPS_PROXY"`, `"https_proxy"`, `"go_version"`},
		"certificates.json": {`"role": "client keystore"`, `"file": "/etc/mesh/int.p12"`, `"error"`},
		"log.txt":           {"check tls.client-auth fail in 1.500s", "end after 2.346s"},
	} {
		body, ok := files[name]
		if !ok {
			t.Errorf("bundle lacks %s", name)
			continue
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, body)
			}
		}
	}
	if len(files) != 6 {
		t.Errorf("bundle has %d entries, want 6", len(files))
	}
	// The same run makes the same bundle.
	var again bytes.Buffer
	if err := WriteBundle(&again, fixtureRun(), info); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Error("two bundles of the same run differ")
	}
}

// TestClosingLineAfterInterrupt: a spec stopped by Ctrl-C is counted in the
// closing line as the conformance line counts it, not as failed; one error
// is "1 error".
func TestClosingLineAfterInterrupt(t *testing.T) {
	r := fixtureConformanceRun()
	c := *r.Conformance
	c.Summary.Interrupted = 1
	r.Conformance = &c
	tests := []struct {
		name string
		run  *Run
		want string
	}{
		{"interrupted", r, "3 passed, 1 warned, 2 failed, 1 skipped, 1 stopped by the interrupt"},
		{"one error", &Run{Checks: []checks.Result{{ID: "a.b", Status: checks.Error}}}, "0 passed, 0 warned, 0 failed, 0 skipped, 1 error"},
		{"two errors", &Run{Checks: []checks.Result{{ID: "a.b", Status: checks.Error}, {ID: "a.c", Status: checks.Error}}}, "0 passed, 0 warned, 0 failed, 0 skipped, 2 errors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run.Finish(tc.run.Started)
			if got := tc.run.Line(); got != tc.want {
				t.Errorf("Line() = %q, want %q", got, tc.want)
			}
			var b bytes.Buffer
			if err := WriteText(&b, tc.run, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; last != tc.want {
				t.Errorf("closing line %q, want %q", last, tc.want)
			}
		})
	}
}
