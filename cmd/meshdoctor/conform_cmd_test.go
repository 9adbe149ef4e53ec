package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/sandbox"
)

func TestConformOnEmbeddedSandbox(t *testing.T) {
	r := runCLI(t, nil, "conform", "--sandbox")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"the embedded sandbox", "PASS  MESH-SEND-001", "PASS  MESH-ACK-003", "0 failed, 0 skipped", "Clean-up:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestConformJSON: --format json puts one schema-1 document on stdout,
// with the conformance member, and nothing else.
func TestConformJSON(t *testing.T) {
	r := runCLI(t, nil, "conform", "--sandbox", "--format", "json", "--label-filter", "handshake || ack")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var doc struct {
		Schema      int    `json:"schema"`
		Command     string `json:"command"`
		Checks      []any  `json:"checks"`
		Target      struct{ Sandbox bool }
		Conformance struct {
			Specs []struct {
				ID, Text, Status, Failure string
				Labels                    []string
				Selected                  bool
				DurationMS                *int64 `json:"duration_ms"`
				Entries                   []struct{ Name, Value string }
			}
			Summary struct {
				Passed, Failed int
				OK             bool
			}
		}
		Summary struct{ OK bool }
	}
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	if doc.Schema != 1 || doc.Command != "conform" || doc.Checks == nil || !doc.Target.Sandbox {
		t.Errorf("document head: schema %d command %q checks %v sandbox %v", doc.Schema, doc.Command, doc.Checks, doc.Target.Sandbox)
	}
	ran := 0
	for _, s := range doc.Conformance.Specs {
		if s.ID == "" || s.Text == "" || len(s.Labels) == 0 || s.DurationMS == nil || s.Entries == nil {
			t.Errorf("incomplete spec %+v", s)
		}
		if s.Selected {
			ran++
			if s.Status != "passed" {
				t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
			}
		} else if s.Status != "skipped" {
			t.Errorf("%s not selected but %s", s.ID, s.Status)
		}
	}
	if ran == 0 || doc.Conformance.Summary.Passed != ran || !doc.Conformance.Summary.OK || !doc.Summary.OK {
		t.Errorf("%d specs ran; summary %+v, run ok %v", ran, doc.Conformance.Summary, doc.Summary.OK)
	}
}

func TestConformFaultFails(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "conform.xml")
	r := runCLI(t, nil, "conform", "--sandbox=reject-token", "--label-filter", "handshake", "--junit", junit)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// A server that refuses every token proves nothing by refusing bad
	// ones: the negative auth specs are skipped, saying why.
	for _, want := range []string{"FAIL  MESH-HANDSHAKE-001", "403", "SKIP  MESH-AUTH-001", "cannot judge", "not selected"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "PASS  MESH-AUTH") {
		t.Errorf("a negative auth spec passed against a server that refuses every token:\n%s", r.stdout)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Failures == 0 || doc.Tests < 30 {
		t.Errorf("JUnit file: %v, %+v", err, doc)
	}
}

func TestConformList(t *testing.T) {
	r := runCLI(t, nil, "conform", "--list")
	if r.code != exitOK || !strings.Contains(r.stdout, "MESH-HANDSHAKE-001") || !strings.Contains(r.stdout, "live-safe") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "conform", "--list", "--format", "json")
	var cat []struct {
		ID     string
		Text   string
		Labels []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &cat); err != nil || len(cat) < 30 {
		t.Fatalf("--list --format json: %v, %d entries\n%s", err, len(cat), r.stdout)
	}
}

func TestConformUsage(t *testing.T) {
	creds := map[string]string{"MESH_MAILBOX_PASSWORD": "p", "MESH_SHARED_KEY": "k"}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		contains string
	}{
		{"bad format", nil, []string{"--sandbox", "--format", "xml"}, "--format"},
		{"unknown fault", nil, []string{"--sandbox=melt"}, "unknown fault"},
		{"bad label filter", nil, []string{"--sandbox", "--label-filter", "send && ("}, "label filter"},
		{"bad focus", nil, []string{"--sandbox", "--focus", "MESH-("}, "regular expression"},
		{"sandbox and target", nil, []string{"--sandbox", "--env", "int"}, "drop the target flags"},
		{"no target", nil, []string{}, "--env"},
		{"negative timeout", nil, []string{"--sandbox", "--timeout", "-1s"}, "negative"},
		{"bad chunk size", nil, []string{"--sandbox", "--chunk-size", "lots"}, "chunk-size"},
		// Would build chunks in memory until the process died.
		{"chunk of 100 GiB", nil, []string{"--sandbox", "--chunk-size", "100GiB"}, "100MB, MESH's limit"},
		{"chunk over 100 MB", nil, []string{"--sandbox", "--chunk-size", "100000001"}, "100MB, MESH's limit"},
		{"live", creds, []string{"--env", "live", "--mailbox", "X26ABC1", "--workflow", "WF"}, "--allow-live"},
		{"recipient without password", creds, []string{"--url", "https://127.0.0.1:1", "--mailbox", "X26ABC1", "--recipient", "X26ABC2", "--workflow", "WF"}, "MESH_RECIPIENT_PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, append([]string{"conform"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.contains) {
				t.Fatalf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", r.code, tt.contains, r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("a usage error printed to stdout: %s", r.stdout)
			}
		})
	}
}

// TestConformProfileTwoMailboxesNoSecrets: the target path (profile,
// keystore, CA bundle) with a second mailbox for receiving; no secret in
// any output or in the JUnit file, passing or failing.
func TestConformProfileTwoMailboxesNoSecrets(t *testing.T) {
	_, profile := startTestSandbox(t)
	junit := filepath.Join(t.TempDir(), "conform.xml")
	env := map[string]string{"MESH_RECIPIENT_PASSWORD": "Passw0rd-not-for-output"}
	r := runCLI(t, env, "conform", "--profile", profile, "--recipient", "X26ABC2", "--junit", junit, "-v",
		"--timeout", "10s", "--poll-interval", "50ms", "--chunk-size", "8KiB")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "mex-to: X26ABC2") {
		t.Errorf("the message did not go to the second mailbox:\n%s", r.stdout)
	}
	assertNoSecrets(t, r)
	assertNoSecrets(t, result{stdout: string(mustRead(t, junit))})

	_, rejecting := startTestSandbox(t, sandbox.FaultRejectToken)
	r = runCLI(t, nil, "conform", "--profile", rejecting, "--format", "json", "--junit", junit, "--timeout", "5s", "--poll-interval", "50ms")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNoSecrets(t, r)
	assertNoSecrets(t, result{stdout: string(mustRead(t, junit))})
	if !bytes.Contains([]byte(r.stdout), []byte(`"status": "failed"`)) {
		t.Errorf("JSON lacks failed specs:\n%s", r.stdout)
	}
}

// TestConformJUnitUnwritable: a JUnit file that cannot be written once the
// run is done (a full device) still leaves the report printed, and the error
// said once, with exit 3. (A path that cannot be written at all is refused
// before the run, exit 2.)
func TestConformJUnitUnwritable(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	r := runCLI(t, nil, "conform", "--sandbox", "--focus", "MESH-HANDSHAKE-001", "--junit", "/dev/full")
	if r.code != exitCannotRun {
		t.Fatalf("exit %d, want 3\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "PASS  MESH-HANDSHAKE-001") || strings.Count(r.stderr, "--junit: write ") != 1 {
		t.Fatalf("want the report on stdout and the error once on stderr\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}

// TestRoundtripBounds: sizes that would make a million requests, or spool
// and transfer 100 GiB, are refused before anything starts. (Here rather
// than in main_test.go, which others edit.)
func TestRoundtripBounds(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		contains string
	}{
		{"chunk of 1 byte", []string{"--chunk-size", "1"}, "at least 16.0 KiB"},
		{"chunk over 100 MB", []string{"--chunk-size", "100000001"}, "MESH's limit on one request"},
		{"chunk of 100 GiB", []string{"--chunk-size", "100GiB"}, "MESH's limit on one request"},
		{"size of 100 GiB", []string{"--size", "100GiB"}, "at most 4.0 GiB"},
		{"size just over", []string{"--size", "4294967297"}, "at most 4.0 GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"roundtrip", "--sandbox"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.contains) {
				t.Fatalf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", r.code, tt.contains, r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("a usage error printed to stdout: %s", r.stdout)
			}
		})
	}
	// The bounds themselves are accepted.
	r := runCLI(t, nil, "roundtrip", "--sandbox", "--size", "64KiB", "--chunk-size", "16KiB")
	if r.code != exitOK {
		t.Fatalf("16 KiB chunks: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
