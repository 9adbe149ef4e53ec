package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/sandbox"
)

// checkDoc is the part of the JSON document the tests read.
type checkDoc struct {
	Schema  int         `json:"schema"`
	Checks  []checkJSON `json:"checks"`
	Summary struct {
		Passed, Failed, Skipped int
		OK                      bool `json:"ok"`
	} `json:"summary"`
}

type checkJSON struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Summary     string            `json:"summary"`
	Remediation string            `json:"remediation"`
	Evidence    map[string]string `json:"evidence"`
	DurationMS  *int64            `json:"duration_ms"`
}

func decodeCheck(t *testing.T, r result) checkDoc {
	t.Helper()
	var doc checkDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	if doc.Schema != 1 {
		t.Fatalf("schema %d, want 1", doc.Schema)
	}
	return doc
}

// Every sandbox fault is diagnosed as a user would see it: which check is
// the first not to pass, and whether its summary and remediation name the
// cause.
func TestCheckDiagnosesEverySandboxFault(t *testing.T) {
	tests := []struct {
		fault  string
		args   []string
		first  string
		status string
		words  []string
	}{
		{"", nil, "", "", nil},
		{"expired-server-cert", nil, "tls.server", "fail", []string{"expired"}},
		{"unknown-server-ca", nil, "tls.server", "fail", []string{"does not hold", "ca bundle"}},
		{"sha1-server-cert", nil, "tls.server", "fail", []string{"sha1", "sha-2"}},
		{"no-intermediate", nil, "tls.server", "warn", []string{"intermediate", "subca"}},
		{"unknown-client-ca", nil, "tls.client-auth", "fail", []string{"unknown_ca", "accepts certificates from"}},
		{"clock-skew", nil, "auth.clock", "fail", []string{"clock", "ntp"}},
		{"reject-token", nil, "mesh.handshake", "fail", []string{"403", "shared key"}},
		{"slow", []string{"--timeout", "500ms"}, "mesh.handshake", "fail", []string{"did not answer", "in time"}},
		{"reset", nil, "tls.server", "fail", []string{"reset right after", "firewall"}},
		{"http-500", nil, "mesh.handshake", "fail", []string{"internal error", "server's fault"}},
		{"tls10-only", nil, "tls.server", "fail", []string{"tls 1.1 or older", "tls 1.2"}},
		{"expiring-client-cert", nil, "cert.client", "warn", []string{"expires in 4 days", "renew"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.fault] = true
		t.Run("fault="+tt.fault, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"check", "--sandbox=" + tt.fault, "--format", "json"}, tt.args...)
			if tt.fault == "" {
				args[1] = "--sandbox"
			}
			r := runCLI(t, nil, args...)
			doc := decodeCheck(t, r)
			var first *checkJSON
			for i, c := range doc.Checks {
				if c.DurationMS == nil {
					t.Errorf("%s has no duration_ms", c.ID)
				}
				// cert.client warns of the sandbox's private CA on every run.
				sandboxCA := c.ID == "cert.client" && c.Status == "warn" && strings.Contains(c.Summary, "fine for a sandbox")
				if first == nil && c.Status != "pass" && c.Status != "skip" && !sandboxCA {
					first = &doc.Checks[i]
				}
			}
			if tt.first == "" {
				if first != nil || r.code != exitOK {
					t.Fatalf("clean sandbox: exit %d, first non-pass %+v", r.code, first)
				}
				return
			}
			if first == nil {
				t.Fatalf("every check passed; want %s to %s", tt.first, tt.status)
			}
			if first.ID != tt.first || first.Status != tt.status {
				t.Fatalf("first non-pass is %s (%s: %s), want %s %s", first.ID, first.Status, first.Summary, tt.first, tt.status)
			}
			text := strings.ToLower(first.Summary + " " + first.Remediation)
			for _, w := range tt.words {
				if !strings.Contains(text, w) {
					t.Errorf("%s does not say %q: %s / %s", first.ID, w, first.Summary, first.Remediation)
				}
			}
			wantCode := exitFailed
			if tt.status == "warn" {
				wantCode = exitOK
			}
			if r.code != wantCode {
				t.Errorf("exit %d, want %d", r.code, wantCode)
			}
		})
	}
	for _, f := range sandbox.Faults() {
		name := strings.Fields(f)[0]
		if !seen[name] {
			t.Errorf("sandbox fault %s has no check test", name)
		}
	}
}

func TestCheckUsageErrors(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{"MESH_MAILBOX_PASSWORD": "pw", "MESH_SHARED_KEY": "key"}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		contains string
	}{
		{"unknown check", nil, []string{"check", "--sandbox", "--only", "dns.resolv"}, "the checks are: target.eligibility"},
		{"unknown skip", nil, []string{"check", "--sandbox", "--skip", "geo.nope"}, `unknown check "geo.nope"`},
		{"unknown env", secrets, []string{"check", "--env", "staging", "--mailbox", "X26ABC1"}, "unknown MESH environment"},
		{"malformed url", secrets, []string{"check", "--url", "msg.intspineservices.nhs.uk", "--mailbox", "X26ABC1"}, "must look like https://host"},
		{"password typed into the url", secrets, []string{"check", "--url", "ftp://bob:hunter22@mesh.example", "--mailbox", "X26ABC1"}, "ftp://…@mesh.example"},
		{"password in an https url", secrets, []string{"check", "--url", "https://bob:hunter22@mesh.example", "--mailbox", "X26ABC1"}, "user name or password"},
		{"missing password", map[string]string{"MESH_SHARED_KEY": "k"}, []string{"check", "--env", "int", "--mailbox", "X26ABC1"}, "MESH_MAILBOX_PASSWORD"},
		{"missing shared key", map[string]string{"MESH_MAILBOX_PASSWORD": "p"}, []string{"check", "--env", "int", "--mailbox", "X26ABC1"}, "MESH_SHARED_KEY"},
		{"unreadable keystore", secrets, []string{"check", "--env", "int", "--mailbox", "X26ABC1", "--keystore", filepath.Join(dir, "nope.p12")}, "cannot read the keystore"},
		{"unreadable CA bundle", secrets, []string{"check", "--env", "int", "--mailbox", "X26ABC1", "--ca-bundle", filepath.Join(dir, "nope.pem")}, "cannot read the CA bundle"},
		{"bad format", nil, []string{"check", "--sandbox", "--format", "xml"}, "--format"},
		{"only and skip the same", nil, []string{"check", "--sandbox", "--only", "tcp", "--skip", "tcp"}, "both --only and --skip"},
		{"keystore and certificate", secrets, []string{"check", "--env", "int", "--mailbox", "X26ABC1", "--keystore", dir, "--cert", dir}, "not both"},
		{"keystore is a directory", secrets, []string{"check", "--env", "int", "--mailbox", "X26ABC1", "--keystore", dir}, "is a directory"},
		{"unknown fault", nil, []string{"check", "--sandbox=melt"}, "unknown fault"},
		{"sandbox and target", nil, []string{"check", "--sandbox", "--env", "int"}, "drop the target flags"},
		{"sandbox port out of range", nil, []string{"sandbox", "--listen", "127.0.0.1:99999"}, "port"},
		// A Windows path is shown as typed, its backslashes not doubled.
		{"a Windows path in a bad value", nil, []string{"check", "--sandbox", "--timeout", `C:\ten`}, `invalid argument "C:\ten" for "--timeout" flag`},
		{"run refuses live", secrets, []string{"run", "--env", "live", "--mailbox", "X26ABC1"}, "--allow-live"},
		{"proxy password on the command line", secrets, []string{"check", "--env", "int", "--mailbox", "X26ABC1", "--proxy", "http://alice:hunter22@proxy:3128"}, "MESH_PROXY_PASSWORD"},
		{"proxy password on the command line that does not parse", secrets, []string{"conform", "--env", "int", "--mailbox", "X26ABC1", "--proxy", "http://alice:hun/ter22@proxy:3128"}, "MESH_PROXY_PASSWORD"},
		{"proxy that does not parse", secrets, []string{"conform", "--env", "int", "--mailbox", "X26ABC1", "--proxy", "http://proxy:31x28"}, "want http://[user:password@]host:port"},
		{"proxy and no proxy", secrets, []string{"roundtrip", "--env", "int", "--mailbox", "X26ABC1", "--proxy", "http://proxy:3128", "--no-proxy"}, "contradict"},
		{"SOCKS proxy", secrets, []string{"run", "--env", "int", "--mailbox", "X26ABC1", "--proxy", "socks5://proxy:1080"}, "SOCKS"},
		{"unreadable proxy password file", map[string]string{"MESH_MAILBOX_PASSWORD": "pw", "MESH_SHARED_KEY": "key", "MESH_PROXY_PASSWORD_FILE": filepath.Join(dir, "nope")}, []string{"check", "--env", "int", "--mailbox", "X26ABC1"}, "MESH_PROXY_PASSWORD_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitUsage, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.contains) {
				t.Fatalf("stderr lacks %q: %s", tt.contains, r.stderr)
			}
			if strings.Contains(r.stderr, "hunter22") || strings.Contains(r.stderr, "hun/ter22") {
				t.Fatalf("stderr repeats a password: %s", r.stderr)
			}
			if strings.Contains(r.stderr, "[REDACTED]") && !strings.Contains(strings.Join(tt.args, " "), "hunter22") {
				// Nothing secret was typed: a redaction mark would only
				// mangle the line (as it did the proxy URL's template).
				t.Fatalf("stderr redacts where nothing was secret: %s", r.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines > 0 || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("want one line, got:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("a usage error printed on stdout: %s", r.stdout)
			}
			if strings.Contains(r.stderr, "hunter22") {
				t.Fatalf("the password typed into the URL was echoed: %s", r.stderr)
			}
		})
	}
}

func TestCheckOnlyNeedsNoNetworkOrCredentials(t *testing.T) {
	r := runCLI(t, nil, "check", "--env", "int", "--only", "target.eligibility")
	if r.code != exitOK || !strings.Contains(r.stdout, "target.eligibility") || !strings.Contains(r.stdout, "1 passed, 0 warned, 0 failed, 0 skipped") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckLowerCaseMailboxIsAFailureNotCorrected(t *testing.T) {
	r := runCLI(t, map[string]string{"MESH_MAILBOX_PASSWORD": "p", "MESH_SHARED_KEY": "k"},
		"check", "--env", "int", "--mailbox", "x26abc1", "--only", "auth.credentials", "--format", "json")
	doc := decodeCheck(t, r)
	if r.code != exitFailed || len(doc.Checks) != 1 || doc.Checks[0].Status != "fail" || !strings.Contains(doc.Checks[0].Remediation, "X26ABC1") {
		t.Fatalf("exit %d: %+v", r.code, doc.Checks)
	}
}

func TestCheckWithProfileNeverPrintsSecrets(t *testing.T) {
	_, profile := startTestSandbox(t, sandbox.FaultRejectToken)
	for _, format := range []string{"text", "json"} {
		r := runCLI(t, nil, "check", "--profile", profile, "-v", "--format", format)
		if r.code != exitFailed {
			t.Fatalf("exit %d with reject-token\n%s%s", r.code, r.stdout, r.stderr)
		}
		assertNoSecrets(t, r)
	}
}

func TestCheckList(t *testing.T) {
	r := runCLI(t, nil, "check", "--list")
	if r.code != exitOK || !strings.Contains(r.stdout, "mesh.handshake") || !strings.Contains(r.stdout, "auth.credentials,tcp.connect") {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
}

func TestRunOnEmbeddedSandbox(t *testing.T) {
	r := runCLI(t, nil, "run", "--sandbox")
	if r.code != exitOK || !strings.Contains(r.stdout, "11 passed, 1 warned, 0 failed, 2 skipped") ||
		!regexp.MustCompile(`\n\d\d passed, 0 failed, 0 skipped\n`).MatchString(r.stdout) || !strings.Contains(r.stdout, "Clean-up:") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// When a check the suites need fails, the suites are skipped and the check
// named, in text and in JSON.
func TestRunSkipsConformanceWhenTheHandshakeFails(t *testing.T) {
	r := runCLI(t, nil, "run", "--sandbox=reject-token")
	if r.code != exitFailed || !strings.Contains(r.stdout, "specs skipped: mesh.handshake failed") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "run", "--sandbox=clock-skew", "--format", "json")
	var doc struct {
		Conformance struct {
			Specs []struct{ Status, Failure string } `json:"specs"`
		} `json:"conformance"`
		Summary struct{ OK bool } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != exitFailed || doc.Summary.OK {
		t.Fatalf("exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(doc.Conformance.Specs) < 30 || doc.Conformance.Specs[0].Status != "skipped" || !strings.Contains(doc.Conformance.Specs[0].Failure, "mesh.handshake") {
		t.Fatalf("conformance: %+v", doc.Conformance.Specs[:min(2, len(doc.Conformance.Specs))])
	}
}

func TestLowerCaseMailboxInRunAndConform(t *testing.T) {
	_, profile := startTestSandbox(t)
	env := map[string]string{"MESH_PROFILE": profile}
	r := runCLI(t, env, "run", "--mailbox", "x26abc1", "--workflow", "TEST_WORKFLOW2")
	if r.code != exitFailed || !strings.Contains(r.stdout, "lower-case") || !strings.Contains(r.stdout, "specs skipped") {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "conform", "--mailbox", "x26abc1", "--workflow", "TEST_WORKFLOW2")
	if r.code != exitUsage || !strings.Contains(r.stderr, "use X26ABC1") {
		t.Fatalf("conform: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestSecretFilesAreReadCarefully(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	base := []string{"check", "--url", "https://127.0.0.1:1", "--mailbox", "X26ABC1"}
	tests := []struct {
		name, file, want string
	}{
		{"missing, named like a secret", "Zq9-pass-LEAKCHECK", "the file it names does not exist"},
		{"empty", empty, "the file it names is empty"},
		{"a directory", dir, "the file it names is a directory"},
		{"endless", "/dev/zero", "the file it names is larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, map[string]string{"MESH_MAILBOX_PASSWORD_FILE": tt.file, "MESH_SHARED_KEY": "k"}, base...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "MESH_MAILBOX_PASSWORD_FILE: "+tt.want) {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "LEAKCHECK") {
				t.Fatalf("the _FILE value was echoed: %s", r.stderr)
			}
		})
	}
}

func TestPlainHTTPToTheTLSSandboxSaysUseHTTPS(t *testing.T) {
	srv, profile := startTestSandbox(t)
	r := runCLI(t, nil, "check", "--profile", profile, "--url", strings.Replace(srv.URL(), "https://", "http://", 1), "--only", "mesh.handshake", "--format", "json")
	doc := decodeCheck(t, r)
	for _, c := range doc.Checks {
		if c.ID == "mesh.handshake" && c.Status == "fail" && strings.Contains(c.Remediation, "https://") {
			return
		}
	}
	t.Fatalf("exit %d: %+v", r.code, doc.Checks)
}

// redactError hides a password typed into a URL, whatever its characters,
// and leaves a URL's template ("[user:password@]") in a message as it is.
func TestRedactErrorURLPassword(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bad url https://bob:hunter22@mesh.example", "bad url https://bob:[REDACTED]@mesh.example"},
		{"bad url https://bob:pa]ss[w@mesh.example", "bad url https://bob:[REDACTED]@mesh.example"},
		{"(want http://[user:password@]host:port)", "(want http://[user:password@]host:port)"},
	} {
		if got := redactError(tt.in); got != tt.want {
			t.Errorf("redactError(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
