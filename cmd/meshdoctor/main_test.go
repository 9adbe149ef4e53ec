package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/sandbox"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runContext(ctx, args, &out, &errb, getenv)
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"version flag", []string{"--version"}, exitOK, "meshdoctor "},
		{"version command", []string{"version"}, exitOK, "meshdoctor "},
		{"help", []string{"help"}, exitOK, "Exit codes:"},
		{"sandbox help", []string{"sandbox", "--help"}, exitOK, "tls10-only"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"roundtrip", "--nope"}, exitUsage, "unknown flag"},
		{"stray argument", []string{"version", "extra"}, exitUsage, "takes no arguments"},
		{"unknown fault", []string{"sandbox", "--fault", "melt"}, exitUsage, "unknown fault"},
		{"bad client auth", []string{"sandbox", "--client-auth", "maybe"}, exitUsage, "client-auth"},
		{"bad listen", []string{"sandbox", "--listen", "8700"}, exitUsage, "host:port"},
		{"bad size", []string{"sandbox", "--max-request-size", "lots"}, exitUsage, "not a size"},
		{"missing mailboxes file", []string{"sandbox", "--mailboxes", "/nonexistent/mailboxes.jsonl"}, exitUsage, "mailboxes.jsonl"},
		{"sandbox and target", []string{"roundtrip", "--sandbox", "--env", "int"}, exitUsage, "drop the target flags"},
		{"no target", []string{"roundtrip"}, exitUsage, "no mailbox"},
		{"bad env", []string{"roundtrip", "--env", "prodd"}, exitUsage, "unknown MESH environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.contains) {
				t.Fatalf("output lacks %q\nstdout: %s\nstderr: %s", tt.contains, r.stdout, r.stderr)
			}
			if tt.code == exitUsage && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Fatalf("a usage error should be one line, got:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
				t.Fatalf("stack trace on stderr: %s", r.stderr)
			}
		})
	}
}

func TestRoundtripOnEmbeddedSandbox(t *testing.T) {
	for _, args := range [][]string{
		{"roundtrip", "--sandbox"},
		{"roundtrip", "--sandbox", "--v1", "--gzip=false", "--size", "10KiB"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			r := runCLI(t, nil, args...)
			if r.code != exitOK {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "7 passed, 0 failed, 0 skipped") {
				t.Fatalf("stdout: %s", r.stdout)
			}
		})
	}
}

// startTestSandbox runs a sandbox with mailboxes whose secrets are not the
// well-known defaults, so the test can prove they are never printed.
func startTestSandbox(t *testing.T, faults ...sandbox.Fault) (*sandbox.Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := sandbox.Start(sandbox.Config{
		Listen:    "127.0.0.1:0",
		PKIDir:    dir,
		SharedKey: "Sh4redK3y-not-for-output",
		Mailboxes: []sandbox.Mailbox{
			{ID: "X26ABC1", Name: "ONE", ODSCode: "X26", Password: "Passw0rd-not-for-output"},
			{ID: "X26ABC2", Name: "TWO", ODSCode: "X26", Password: "Passw0rd-not-for-output"},
		},
		Faults: faults,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.Files().Profile
}

func TestRoundtripWithProfileNeverPrintsSecrets(t *testing.T) {
	_, profile := startTestSandbox(t)
	r := runCLI(t, nil, "roundtrip", "--profile", profile)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNoSecrets(t, r)
}

func TestRoundtripFailureNamesCause(t *testing.T) {
	_, profile := startTestSandbox(t, sandbox.FaultRejectToken)
	r := runCLI(t, nil, "roundtrip", "--profile", profile)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"FAIL  handshake", "403", "MESH_SHARED_KEY", "0 passed, 1 failed, 6 skipped"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	assertNoSecrets(t, r)
}

func TestSecretsFromEnvironmentAndFiles(t *testing.T) {
	srv, profile := startTestSandbox(t)
	_ = srv
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("Sh4redK3y-not-for-output\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The profile holds a wrong key; the environment's file wins.
	original := string(mustRead(t, profile))
	if !strings.Contains(original, "Sh4redK3y-not-for-output") {
		t.Fatal("the sandbox profile should hold the shared key")
	}
	wrong := strings.Replace(original, "Sh4redK3y-not-for-output", "wrong", 1)
	wrongProfile := filepath.Join(filepath.Dir(profile), "wrong.json")
	if err := os.WriteFile(wrongProfile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, map[string]string{"MESH_SHARED_KEY_FILE": keyFile}, "roundtrip", "--profile", wrongProfile)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, map[string]string{"MESH_SHARED_KEY_FILE": keyFile, "MESH_SHARED_KEY": "x"}, "roundtrip", "--profile", wrongProfile)
	if r.code != exitUsage || !strings.Contains(r.stderr, "keep one") {
		t.Fatalf("both secret forms set: exit %d %s", r.code, r.stderr)
	}
}

func TestRefusesLive(t *testing.T) {
	r := runCLI(t, map[string]string{"MESH_MAILBOX_PASSWORD": "p", "MESH_SHARED_KEY": "k"},
		"roundtrip", "--env", "live", "--mailbox", "X26ABC1", "--workflow", "WF")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--allow-live") {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertNoSecrets(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"Passw0rd-not-for-output", "Sh4redK3y-not-for-output"} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("output shows secret %q:\n%s\n%s", s, r.stdout, r.stderr)
		}
	}
	// The word NHSMESH may appear in prose; a token (scheme, then mailbox
	// and the other parts) must not.
	if tok := regexp.MustCompile(`NHSMESH [A-Za-z0-9]+:[^\s<]+:`).FindString(r.stdout + r.stderr); tok != "" {
		t.Fatalf("output shows a token %q:\n%s\n%s", tok, r.stdout, r.stderr)
	}
}

// lineWriter tells when a line containing want has been written.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestSandboxCommandStartsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	out := &lineWriter{want: "Press Ctrl-C", seen: make(chan struct{})}
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- runContext(ctx, []string{"sandbox", "--listen", "127.0.0.1:0", "--pki-dir", dir, "--data-dir", filepath.Join(dir, "data")}, out, &errb, func(string) string { return "" })
	}()
	select {
	case <-out.seen:
	case code := <-done:
		t.Fatalf("sandbox exited %d early: %s %s", code, out.buf.String(), errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("sandbox did not start")
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d after Ctrl-C: %s", code, errb.String())
	}
	banner := out.buf.String()
	for _, want := range []string{"https://127.0.0.1:", "X26ABC1, X26ABC2, X26ABC3", "TestKey", "profile.json", "client.p12"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
}

// A failed round trip is diagnosed by the checks: the cause names the check
// and its finding, with the fix under it.
func TestRoundtripFailuresAreDiagnosedByTheChecks(t *testing.T) {
	tests := []struct {
		fault sandbox.Fault
		hint  string
	}{
		{sandbox.FaultUnknownClientCA, "cause        tls.client-auth: MESH refused our client certificate"},
		{sandbox.FaultUnknownServerCA, "--ca-bundle"},
		{sandbox.FaultExpiredServerCert, "has expired"},
		{sandbox.FaultTLS10Only, "TLS 1.2"},
		{sandbox.FaultHTTP500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			_, profile := startTestSandbox(t, tt.fault)
			r := runCLI(t, nil, "roundtrip", "--profile", profile)
			if r.code != exitFailed || !strings.Contains(r.stdout, tt.hint) {
				t.Fatalf("exit %d, want 1 and a hint with %q:\n%s%s", r.code, tt.hint, r.stdout, r.stderr)
			}
			assertNoSecrets(t, r)
		})
	}
}
