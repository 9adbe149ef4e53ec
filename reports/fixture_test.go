package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/suites"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// Distinctive secret values: the fixture smuggles them into evidence,
// summaries and remediation, the way a careless check or an echoing server
// would, so every writer's test proves they never come out.
const (
	secretPassword = "pw-Fixture-8c1f<&>\"'"
	secretShared   = "sk-Fixture-3b7e9a"
	secretKeystore = "ks-Fixture-d41d8c"
	secretHMAC     = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	secretKeyBody  = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
	// secretProxy has the characters that break a proxy URL unescaped.
	secretProxy = "px-Fix/ture#?@:%"
)

var secretValues = []string{secretPassword, secretShared, secretKeystore, secretHMAC, secretKeyBody, secretProxy}

// fixtureRun is a run with every status, evidence, remediation, text that
// needs escaping in each format, and secrets where they must not be shown.
// Its times are fixed, so its reports are golden.
func fixtureRun() *Run {
	started := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	target := mesh.Target{
		Environment: mesh.Integration,
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: secretPassword, SharedKey: secretShared},
		Keystore:    "/etc/mesh/int.p12", KeystorePassword: secretKeystore,
		CABundle: "/etc/mesh/nhs-int-ca-bundle.pem",
		Proxy: mesh.ProxySettings{User: `TRUST\alice`, Password: secretProxy, Env: mesh.ReadProxyEnv(func(k string) string {
			return map[string]string{"HTTPS_PROXY": "http://proxy.trust.nhs.uk:8080", "NO_PROXY": "localhost"}[k]
		})},
	}
	sources := map[string]string{
		"mailbox": "--mailbox", "password": "MESH_MAILBOX_PASSWORD", "shared_key": "MESH_SHARED_KEY_FILE /run/secrets/mesh-key",
		"keystore": "MESH_KEYSTORE", "keystore_password": "MESH_KEYSTORE_PASSWORD", "ca_bundle": "--ca-bundle",
	}
	r := &Run{
		Tool:    Tool{Name: "meshdoctor", Version: "v1.2.3", OS: "linux", Arch: "amd64"},
		Command: "check",
		Target:  NewTarget(target, sources),
		Started: started,
	}
	ms := time.Millisecond
	r.Checks = []checks.Result{
		{ID: "target.eligibility", Title: "The environment and route exist and are open to the MESH API", Status: checks.Pass,
			Summary:  "int over internet is open to the MESH API at msg.intspineservices.nhs.uk",
			Evidence: ev("environment", "int", "route", "internet"), Duration: 0},
		{ID: "auth.credentials", Title: "Mailbox, password and shared key are set and make a valid NHSMESH token", Status: checks.Pass,
			Summary: "mailbox X26ABC1, password and shared key set; the NHSMESH token builds and verifies",
			Evidence: ev(
				"password", "set (from MESH_MAILBOX_PASSWORD)",
				"token shape", "NHSMESH X26ABC1:<nonce>:0:202611290600:<HMAC-SHA256>",
				// A careless check: the real token, and the password itself.
				"token sent", "NHSMESH X26ABC1:5b4e3a2c-1d0f:1:202611290600:"+secretHMAC,
				"password echoed", secretPassword,
				"proxy password echoed", secretProxy,
			), Duration: 1234567 * time.Nanosecond},
		{ID: "dns.resolve", Title: "The MESH host name resolves", Status: checks.Warn,
			Summary:     "msg.intspineservices.nhs.uk resolves, but only to IPv6 <::1> & nothing else",
			Remediation: "Check the resolver \"nameserver\" lines in /etc/resolv.conf.",
			Evidence:    ev("addresses", "::1", "resolver", "10.0.0.2:53"), Duration: 927425 * time.Nanosecond},
		{ID: "tls.client-auth", Title: "MESH accepts our client certificate (mutual TLS)", Status: checks.Fail,
			Summary:     "MESH refused our certificate: the shared key " + secretShared + " is not the issue",
			Remediation: "Ask the service desk for a certificate for this mailbox.\nThen point MESH_KEYSTORE at it.",
			Evidence: ev(
				"our certificate", `"X26ABC1.X26.api.mesh-client.nhs.uk" issued by "NHS INT Level 1C"`,
				"key file", "-----BEGIN PRIVATE KEY-----\n"+secretKeyBody+"\n-----END PRIVATE KEY-----",
				"server said", "<script>alert('x')</script> ]]> \x00\x07\x1b[2J bell",
			), Duration: 1500 * ms},
		{ID: "auth.clock", Title: "This machine's clock agrees with MESH's", Status: checks.Error,
			Summary: "could not read the server's Date header", Remediation: "Run again; if it persists, report it.", Duration: 2 * ms},
		{ID: "mesh.handshake", Title: "MESH accepts the authenticated handshake for this mailbox", Status: checks.Skip,
			Summary: "skipped: tls.client-auth failed", Duration: 0},
	}
	r.Finish(started.Add(2*time.Second + 345678*time.Microsecond))
	return r
}

// fixtureConformanceRun is the fixture run as `meshdoctor run` makes it:
// the checks, then the conformance catalogue with a spec of each outcome,
// secrets again where they must not show.
func fixtureConformanceRun() *Run {
	r := fixtureRun()
	r.Command = "run"
	// The checks passed this time, or the specs would not have run.
	r.Checks = r.Checks[:3]
	ms := int64(1)
	rep := &suites.Report{
		Started:    r.Started.Add(time.Second),
		Duration:   1500 * time.Millisecond,
		DurationMS: 1500,
		Specs: []suites.Spec{
			{ID: "MESH-SEND-001", Text: "MESH MUST accept a message sent to a valid recipient & workflow.", Labels: []string{"send"},
				Status: suites.StatusPassed, Selected: true, DurationMS: 120 * ms,
				Entries: []suites.Entry{{Name: "message_id", Value: "20261129060001000000_ABC123"}}},
			{ID: "MESH-AUTH-003", Text: "MESH MUST refuse a replayed token.", Labels: []string{"auth", "negative"},
				Status: suites.StatusFailed, Selected: true, DurationMS: 30 * ms,
				Failure: "MESH accepted the replayed token NHSMESH X26ABC1:n0nce:1:202611290600:" + secretHMAC,
				Entries: []suites.Entry{{Name: "status", Value: "200"}, {Name: "password used", Value: secretPassword}}},
			{ID: "MESH-RECEIVE-001", Text: "MESH MUST list a sent message in the recipient's inbox.", Labels: []string{"receive"},
				Status: suites.StatusSkipped, Selected: true, Failure: `needs "send"`, Entries: []suites.Entry{}},
			{ID: "MESH-CHUNK-001", Text: "MESH MUST reassemble a chunked message.", Labels: []string{"chunk"},
				Status: suites.StatusTimedout, Selected: true, DurationMS: 10000 * ms, Failure: "took longer than 10s", Entries: []suites.Entry{}},
			{ID: "MESH-PAGE-001", Text: "MESH MUST page a long inbox.", Labels: []string{"inbox", "slow"},
				Status: suites.StatusSkipped, Selected: false, Failure: "not selected by the label filter or focus", Entries: []suites.Entry{}},
		},
		Cleanup: suites.CleanupReport{Sent: 2, Acknowledged: 1, Leftovers: []string{"20261129060002000000_DEF456: the shared key " + secretShared + " was refused"},
			Remove: "acknowledge each id as X26ABC1", Untouched: 1,
			Earlier: &suites.EarlierRuns{Waiting: 1, Oldest: r.Started.Add(-50 * time.Hour)}},
		RunID: "20261129T060001Z-0123456789ab",
	}
	rep.Summary = suites.Summary{Total: 5, Passed: 1, Failed: 1, Skipped: 2, Timedout: 1, NotSelected: 1}
	r.Conformance = rep
	r.Finish(r.Started.Add(3 * time.Second))
	return r
}

// ev makes evidence from key, value pairs.
func ev(kv ...string) checks.Evidence {
	var e checks.Evidence
	for i := 0; i+1 < len(kv); i += 2 {
		e = append(e, checks.Fact{Key: kv[i], Value: kv[i+1]})
	}
	return e
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (review, then go test ./reports -update):\n--- got ---\n%s", name, got)
	}
}

// assertNoSecret fails if any secret value (or an HMAC, key body) is in b.
func assertNoSecret(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range secretValues {
		for _, form := range encodings(s) {
			if form != "" && bytes.Contains(b, []byte(form)) {
				t.Errorf("%s shows a secret (%q as %q)", what, s, form)
			}
		}
	}
}
