package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// Distinctive secrets, so a test can prove they are never printed.
const (
	testPassword  = "Passw0rd-not-for-output"
	testSharedKey = "Sh4redK3y-not-for-output"
)

var tokenSecrets = map[string]string{"MESH_MAILBOX_PASSWORD": testPassword, "MESH_SHARED_KEY": testSharedKey}

// runWithStdin is runCLI with stdin. runContext has no stdin of its own, so
// this drives the root command the same way and prints errors as it does.
func runWithStdin(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	code := exitCode(err)
	if err != nil && code != exitFailed {
		fmt.Fprintf(&errb, "meshdoctor: %s\n", oneLine(err.Error()))
	}
	return result{code, out.String(), errb.String()}
}

type verifyDoc struct {
	Schema      int    `json:"schema"`
	Valid       bool   `json:"valid"`
	Fault       string `json:"fault"`
	Summary     string `json:"summary"`
	Remediation string `json:"remediation"`
	Parts       []struct {
		Part, Status, Value, Note string
	} `json:"parts"`
}

func (d verifyDoc) part(name string) string {
	for _, p := range d.Parts {
		if p.Part == name {
			return p.Status
		}
	}
	return "absent"
}

func TestTokenVerify(t *testing.T) {
	now := time.Now().UTC()
	good := mesh.Credentials{Mailbox: "X26ABC1", Password: testPassword, SharedKey: testSharedKey}
	with := func(f func(*mesh.Credentials)) mesh.Credentials {
		c := good
		f(&c)
		return c
	}
	const nonce = "0c5a6ea4-3d43-4b7b-9d8a-3a1f3b6a9e01"
	tok := func(c mesh.Credentials, at time.Time) string { return mesh.BuildToken(c, nonce, 0, at) }
	ts := now.Format(mesh.TimestampLayout)
	mac := strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		fault string
		parts map[string]string // part → status
		words []string          // in stdout, lower case
	}{
		{name: "good", stdin: tok(good, now), code: exitOK,
			parts: map[string]string{"scheme": "ok", "mailbox": "ok", "nonce": "ok", "nonce count": "ok", "timestamp": "ok", "hmac": "ok"},
			words: []string{"valid", "matches", "less than a minute"}},
		{name: "header name, spaces and newline", stdin: "  Authorization:   " + tok(good, now) + "  \n\n", code: exitOK},
		{name: "among other headers", stdin: "Host: mesh\nauthorization: " + tok(good, now) + "\nMex-OSName: linux\n", code: exitOK},
		{name: "for the request's mailbox", stdin: tok(good, now), args: []string{"--mailbox", "x26abc1"}, code: exitOK},
		{name: "an hour off is still valid", stdin: tok(good, now.Add(-time.Hour)), code: exitOK,
			words: []string{"1h0m ago", "local time"}},
		{name: "lower-case mailbox", stdin: tok(with(func(c *mesh.Credentials) { c.Mailbox = "x26abc1" }), now), code: exitFailed,
			fault: "mailbox-case", parts: map[string]string{"mailbox": "fail", "hmac": "ok"},
			words: []string{"lower case", "x26abc1", "403"}},
		{name: "stale", stdin: tok(good, now.Add(-3*time.Hour)), code: exitFailed,
			fault: "clock", parts: map[string]string{"timestamp": "fail", "hmac": "ok"}, words: []string{"3h0m ago", "±2h", "utc"}},
		{name: "future", stdin: tok(good, now.Add(150*time.Minute)), code: exitFailed,
			fault: "clock", parts: map[string]string{"timestamp": "fail"}, words: []string{"in the future", "ntp"}},
		{name: "wrong shared key", stdin: tok(with(func(c *mesh.Credentials) { c.SharedKey = "other" }), now), code: exitFailed,
			fault: "hmac", parts: map[string]string{"hmac": "fail", "mailbox": "ok", "timestamp": "ok"},
			words: []string{"does not match", "wrong mailbox password, wrong shared key", "service desk"}},
		{name: "wrong password", stdin: tok(with(func(c *mesh.Credentials) { c.Password = "other" }), now), code: exitFailed,
			fault: "hmac", words: []string{"does not match"}},
		{name: "another mailbox's token", stdin: tok(good, now), args: []string{"--mailbox", "X26ABC2"}, code: exitFailed,
			fault: "mailbox", parts: map[string]string{"mailbox": "fail"}, words: []string{"x26abc2", "does not match token"}},
		{name: "no scheme", stdin: "X26ABC1:" + nonce + ":0:" + ts + ":" + mac, code: exitFailed,
			fault: "scheme", parts: map[string]string{"scheme": "fail", "mailbox": "ok", "hmac": "fail"}, words: []string{"missing"}},
		{name: "lower-case scheme", stdin: "nhsmesh X26ABC1:" + nonce + ":0:" + ts + ":" + mac, code: exitFailed,
			fault: "scheme", parts: map[string]string{"scheme": "fail", "mailbox": "ok"}, words: []string{"capitals"}},
		{name: "colon after scheme", stdin: "NHSMESH:X26ABC1:" + nonce + ":0:" + ts + ":" + mac, code: exitFailed,
			fault: "scheme", parts: map[string]string{"scheme": "fail", "nonce": "ok"}, words: []string{"not a colon"}},
		{name: "other scheme", stdin: "Bearer abc.def", code: exitFailed,
			fault: "scheme", parts: map[string]string{"scheme": "fail", "mailbox": "unread"}, words: []string{"not a mesh token"}},
		{name: "four parts", stdin: "NHSMESH X26ABC1:" + nonce + ":0:" + ts, code: exitFailed,
			fault: "parts", parts: map[string]string{"scheme": "ok", "hmac": "unread"}, words: []string{"got 4"}},
		{name: "colon in nonce", stdin: "NHSMESH X26ABC1:a:b:0:" + ts + ":" + mac, code: exitFailed,
			fault: "parts", words: []string{"got 6"}},
		{name: "empty mailbox", stdin: "NHSMESH :" + nonce + ":0:" + ts + ":" + mac, code: exitFailed,
			fault: "mailbox-empty", parts: map[string]string{"mailbox": "fail"}},
		{name: "empty nonce", stdin: "NHSMESH X26ABC1::0:" + ts + ":" + mac, code: exitFailed,
			fault: "nonce", parts: map[string]string{"nonce": "fail"}},
		{name: "nonce count not digits", stdin: "NHSMESH X26ABC1:" + nonce + ":one:" + ts + ":" + mac, code: exitFailed,
			fault: "nonce-count", parts: map[string]string{"nonce count": "fail"}, words: []string{"digits only"}},
		{name: "short timestamp", stdin: "NHSMESH X26ABC1:" + nonce + ":0:2026112905:" + mac, code: exitFailed,
			fault: "timestamp", parts: map[string]string{"timestamp": "fail"}, words: []string{"12 digits"}},
		{name: "impossible timestamp", stdin: "NHSMESH X26ABC1:" + nonce + ":0:202613011200:" + mac, code: exitFailed,
			fault: "timestamp", parts: map[string]string{"timestamp": "fail"}, words: []string{"not a real date"}},
		{name: "short hmac", stdin: "NHSMESH X26ABC1:" + nonce + ":0:" + ts + ":abc123", code: exitFailed,
			fault: "hmac-shape", parts: map[string]string{"hmac": "fail"}, words: []string{"64 hex digits", "got 6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"token", "verify", "--format", "json"}, tt.args...)
			r := runWithStdin(t, tokenSecrets, tt.stdin, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			var doc verifyDoc
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			if err := dec.Decode(&doc); err != nil || dec.More() {
				t.Fatalf("stdout is not one JSON document (%v):\n%s", err, r.stdout)
			}
			if doc.Schema != 1 || doc.Valid != (tt.code == exitOK) || doc.Fault != tt.fault {
				t.Fatalf("schema %d, valid %v, fault %q; want fault %q\n%s", doc.Schema, doc.Valid, doc.Fault, tt.fault, r.stdout)
			}
			if len(doc.Parts) != 6 {
				t.Fatalf("%d parts, want 6 (scheme and the five after it)\n%s", len(doc.Parts), r.stdout)
			}
			for part, want := range tt.parts {
				if got := doc.part(part); got != want {
					t.Errorf("%s: %s, want %s\n%s", part, got, want, r.stdout)
				}
			}
			if !doc.Valid && doc.Remediation == "" {
				t.Errorf("an invalid token without remediation:\n%s", r.stdout)
			}
			text := strings.ToLower(doc.Summary + "\n" + doc.Remediation)
			for _, p := range doc.Parts {
				text += "\n" + strings.ToLower(p.Value+": "+p.Note)
			}
			for _, w := range tt.words {
				if !strings.Contains(text, strings.ToLower(w)) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			assertTokenSecretsHidden(t, r, tt.stdin, nonce)
			if r.stderr != "" {
				t.Errorf("stderr should be empty with --format json, got:\n%s", r.stderr)
			}
		})
	}
}

// assertTokenSecretsHidden fails if the password, the shared key, the HMAC
// the header carries or the HMAC it should carry appear in the output.
func assertTokenSecretsHidden(t *testing.T, r result, header, nonce string) {
	t.Helper()
	assertNoSecrets(t, r)
	hidden := []string{}
	if i := strings.LastIndex(header, ":"); i >= 0 {
		if mac := strings.TrimSpace(header[i+1:]); len(mac) >= 6 {
			hidden = append(hidden, mac)
		}
	}
	if parts := strings.Split(strings.TrimSpace(header), ":"); len(parts) == 5 {
		mb := strings.TrimPrefix(parts[0], "NHSMESH ")
		right := mesh.BuildToken(mesh.Credentials{Mailbox: mb, Password: testPassword, SharedKey: testSharedKey}, nonce, 0, mustParseTS(parts[3]))
		hidden = append(hidden, right[strings.LastIndex(right, ":")+1:])
	}
	for _, s := range hidden {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("output shows an HMAC %q:\n%s\n%s", s, r.stdout, r.stderr)
		}
	}
}

func mustParseTS(s string) time.Time {
	t, _ := time.Parse(mesh.TimestampLayout, s)
	return t
}

func TestTokenVerifyText(t *testing.T) {
	c := mesh.Credentials{Mailbox: "x26abc1", Password: testPassword, SharedKey: testSharedKey}
	r := runWithStdin(t, tokenSecrets, mesh.NewToken(c, time.Now().Add(-3*time.Hour)), "token", "verify")
	if r.code != exitFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`token: invalid: mailbox "x26abc1" must be upper case (X26ABC1)`,
		"  scheme       ok    NHSMESH: followed by one space",
		"  mailbox      FAIL  x26abc1: lower case: MESH refuses it (403); sign with X26ABC1",
		"  nonce count  ok    0: digits",
		"  timestamp    FAIL  ",
		"3h0m ago: outside the ±2h MESH allows",
		"  hmac         ok    matches the mailbox password and shared key",
		"what to do: Sign with X26ABC1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	assertNoSecrets(t, r)
}

func TestTokenUsage(t *testing.T) {
	good := mesh.NewToken(mesh.Credentials{Mailbox: "X26ABC1", Password: testPassword, SharedKey: testSharedKey}, time.Now())
	dir := t.TempDir()
	tests := []struct {
		name     string
		env      map[string]string
		stdin    string
		args     []string
		contains string
	}{
		{"no command", tokenSecrets, "", []string{"token"}, "new or verify"},
		{"unknown command", tokenSecrets, "", []string{"token", "check"}, `unknown token command "check"`},
		{"empty stdin", tokenSecrets, "", []string{"token", "verify"}, "no Authorization value on stdin"},
		{"blank stdin", tokenSecrets, " \n\t\n", []string{"token", "verify"}, "no Authorization value on stdin"},
		{"empty header", tokenSecrets, "Authorization:  \n", []string{"token", "verify"}, "is empty"},
		{"two headers", tokenSecrets, good + "\n" + good + "\n", []string{"token", "verify"}, "give one Authorization value"},
		{"too much", tokenSecrets, strings.Repeat("x", maxHeader+1), []string{"token", "verify"}, "more than 64 KiB"},
		{"no password", map[string]string{"MESH_SHARED_KEY": testSharedKey}, good, []string{"token", "verify"}, "MESH_MAILBOX_PASSWORD"},
		{"no shared key", map[string]string{"MESH_MAILBOX_PASSWORD": testPassword}, good, []string{"token", "verify"}, "MESH_SHARED_KEY"},
		{"unreadable key file", map[string]string{"MESH_MAILBOX_PASSWORD": testPassword, "MESH_SHARED_KEY_FILE": filepath.Join(dir, "nope")}, good, []string{"token", "verify"}, "MESH_SHARED_KEY_FILE"},
		{"bad format", tokenSecrets, good, []string{"token", "verify", "--format", "xml"}, "want text or json"},
		{"token as an argument", tokenSecrets, good, []string{"token", "verify", good}, "not as an argument"},
		{"new without mailbox", tokenSecrets, "", []string{"token", "new"}, "no mailbox"},
		{"new without password", map[string]string{"MESH_SHARED_KEY": testSharedKey}, "", []string{"token", "new", "--mailbox", "X26ABC1"}, "MESH_MAILBOX_PASSWORD"},
		{"new without shared key", map[string]string{"MESH_MAILBOX_PASSWORD": testPassword}, "", []string{"token", "new", "--mailbox", "X26ABC1"}, "MESH_SHARED_KEY"},
		{"new lower-case mailbox", tokenSecrets, "", []string{"token", "new", "--mailbox", "x26abc1"}, "use X26ABC1"},
		{"new mailbox with a colon", tokenSecrets, "", []string{"token", "new", "--mailbox", "X26:ABC1"}, "cannot make a token"},
		{"curl without a URL", tokenSecrets, "", []string{"token", "new", "--mailbox", "X26ABC1", "--curl"}, "--env"},
		{"new bad env", tokenSecrets, "", []string{"token", "new", "--mailbox", "X26ABC1", "--env", "prodd"}, "unknown MESH environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWithStdin(t, tt.env, tt.stdin, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.contains) {
				t.Fatalf("stderr lacks %q:\n%s", tt.contains, r.stderr)
			}
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 {
				t.Fatalf("a usage error should be one line, got:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("nothing belongs on stdout after a usage error, got:\n%s", r.stdout)
			}
			assertTokenSecretsHidden(t, r, tt.stdin, "")
		})
	}
}

func TestTokenNew(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Minute)
	r := runWithStdin(t, tokenSecrets, "", "token", "new", "--mailbox", "X26ABC1")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	value := strings.TrimSuffix(r.stdout, "\n")
	if strings.Contains(value, "\n") {
		t.Fatalf("stdout should be the token alone, got:\n%s", r.stdout)
	}
	tok, err := mesh.ParseToken(value)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Mailbox != "X26ABC1" || tok.Time.Before(start) || tok.Time.After(time.Now()) {
		t.Fatalf("token for %s at %s, want X26ABC1 now", tok.Mailbox, tok.Time)
	}
	if err := tok.Verify(testPassword, testSharedKey, time.Now(), mesh.TokenWindow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"single use", "±2 hours", "X26ABC1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, tok.HMAC) || strings.Contains(r.stdout+r.stderr, testPassword) || strings.Contains(r.stdout+r.stderr, testSharedKey) {
		t.Fatalf("a secret leaked:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	// What token new makes, token verify accepts.
	v := runWithStdin(t, tokenSecrets, r.stdout, "token", "verify")
	if v.code != exitOK {
		t.Fatalf("token verify of token new: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Two tokens are never the same: MESH accepts each once.
	r2 := runWithStdin(t, tokenSecrets, "", "token", "new", "--mailbox", "X26ABC1")
	if r2.stdout == r.stdout {
		t.Fatal("two calls made the same token")
	}
}

func TestTokenNewCurl(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client key.pem"), filepath.Join(dir, "ca.pem")
	combined, p12, jks := filepath.Join(dir, "both.pem"), filepath.Join(dir, "int.p12"), filepath.Join(dir, "int.jks")
	for file, content := range map[string]string{
		cert: "-----BEGIN CERTIFICATE-----\n", key: "-----BEGIN PRIVATE KEY-----\n", ca: "-----BEGIN CERTIFICATE-----\n",
		combined: "-----BEGIN CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n", p12: "0\x82", jks: "\xfe\xed\xfe\xed",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		want    []string
		notWant []string
		note    string
	}{
		{"pem files", []string{"--url", "https://localhost:8700", "--cert", cert, "--key", key, "--ca-bundle", ca}, exitOK,
			[]string{"curl -sS -i -X POST", "'Authorization: NHSMESH X26ABC1:", "'Mex-ClientVersion: meshdoctor==", "'Mex-OSName: ", "'Mex-OSVersion: ",
				"--cert " + shellQuote(cert), "--key '" + key + "'", "--cacert " + shellQuote(ca), "https://localhost:8700/messageexchange/X26ABC1"},
			nil, ""},
		{"certificate and key in one file", []string{"--url", "https://localhost:8700", "--cert", combined}, exitOK,
			[]string{"--cert " + shellQuote(combined)}, []string{"--key"}, ""},
		// A keystore alone: curl cannot use it without the password on its
		// command line, so no command is printed; the way to PEM files is.
		{"keystore", []string{"--env", "int", "--keystore", p12}, exitUsage, nil, []string{"curl"},
			"openssl pkcs12 -in " + shellQuote(p12) + " -passin env:MESH_KEYSTORE_PASSWORD -clcerts -nokeys -out " + shellQuote(filepath.Join(dir, "int.cert.pem"))},
		{"JKS keystore", []string{"--env", "int", "--keystore", jks}, exitUsage, nil, []string{"curl"},
			"keytool -importkeystore -srckeystore " + shellQuote(jks)},
		{"no identity", []string{"--env", "int"}, exitOK, []string{"curl "}, []string{"--cert"}, "WARNING: no client certificate"},
		{"missing keystore", []string{"--env", "int", "--keystore", filepath.Join(dir, "none.p12")}, exitUsage, nil, []string{"curl"}, "--keystore: cannot read"},
		{"keystore a directory", []string{"--env", "int", "--keystore", dir}, exitUsage, nil, []string{"curl"}, dir + " is a directory"},
		{"missing CA bundle", []string{"--env", "int", "--cert", cert, "--key", key, "--ca-bundle", filepath.Join(dir, "none.pem")}, exitUsage, nil, []string{"curl"}, "--ca-bundle: cannot read"},
		{"cert without key", []string{"--env", "int", "--cert", cert}, exitUsage, nil, []string{"curl"}, "pass its key with --key"},
		{"key without cert", []string{"--env", "int", "--key", key}, exitUsage, nil, []string{"curl"}, "pass --cert as well"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The POSIX dialect on every platform: this table is about
			// what goes into the command; TestTokenNewCurlShells about how.
			args := append([]string{"token", "new", "--mailbox", "X26ABC1", "--curl", "--shell", "posix"}, tt.args...)
			r := runWithStdin(t, tokenSecrets, "", args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(r.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tt.note) {
				t.Errorf("stderr lacks %q:\n%s", tt.note, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, testPassword) || strings.Contains(r.stdout+r.stderr, testSharedKey) {
				t.Fatalf("a secret leaked:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestTokenNewCurlShells: --curl writes for the shell --shell names (the
// platform's own by default): curl.exe and verbatim strings for PowerShell,
// ^ continuations and double quotes for cmd; a value a shell cannot carry is
// refused with nothing on stdout; --shell without --curl is a usage error.
func TestTokenNewCurlShells(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client key.pem")
	odd := filepath.Join(dir, "100% client.pem")
	for _, f := range []string{cert, key, odd} {
		if err := os.WriteFile(f, []byte("-----BEGIN CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"token", "new", "--mailbox", "X26ABC1", "--url", "https://localhost:8700", "--curl", "--cert", cert, "--key", key}
	tests := []struct {
		name  string
		args  []string
		code  int
		want  []string
		error string
	}{
		{"powershell", []string{"--shell", "powershell"}, exitOK,
			[]string{"curl.exe -sS -i -X POST `\n", "-H 'Authorization: NHSMESH X26ABC1:", "--key '" + key + "'", "https://localhost:8700/messageexchange/X26ABC1\n"}, ""},
		{"cmd", []string{"--shell", "CMD"}, exitOK,
			[]string{"curl.exe -sS -i -X POST ^\n", `-H "Authorization: NHSMESH X26ABC1:`, `--key "` + key + `"`}, ""},
		{"posix", []string{"--shell", "posix"}, exitOK, []string{"curl -sS -i -X POST \\\n", "--key '" + key + "'"}, ""},
		{"a path cmd cannot carry", []string{"--shell", "cmd", "--ca-bundle", odd}, exitUsage, nil, "--shell posix"},
		{"unknown shell", []string{"--shell", "fish"}, exitUsage, nil, "want posix, powershell or cmd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWithStdin(t, tokenSecrets, "", append(base, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			if tt.error != "" && (r.stdout != "" || !strings.Contains(firstLine(r.stderr), tt.error)) {
				t.Errorf("stdout %q, stderr %q: want nothing on stdout and a line saying %q", r.stdout, r.stderr, tt.error)
			}
		})
	}
	r := runWithStdin(t, tokenSecrets, "", "token", "new", "--mailbox", "X26ABC1", "--shell", "cmd")
	if r.code != exitUsage || !strings.Contains(r.stderr, "give --curl as well") {
		t.Errorf("--shell without --curl: exit %d, %s", r.code, r.stderr)
	}
	// The platform's own shell by default.
	r = runWithStdin(t, tokenSecrets, "", base...)
	want := "curl -sS"
	if runtime.GOOS == "windows" {
		want = "curl.exe -sS -i -X POST `"
	}
	if r.code != exitOK || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("default shell: exit %d, stdout %q, want it to start %q", r.code, r.stdout, want)
	}
}

// TestTokenNewCurlAgainstSandboxProfile: the sandbox's profile names its
// client.p12 only; --curl says how to make PEM files, never a command
// that fails with "alert certificate required".
func TestTokenNewCurlAgainstSandboxProfile(t *testing.T) {
	_, profile := startTestSandbox(t)
	r := runWithStdin(t, nil, "", "token", "new", "--profile", profile, "--curl")
	if r.code != exitUsage || strings.Contains(r.stdout, "curl") || !strings.Contains(r.stderr, "openssl pkcs12 -in ") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// With the sandbox's PEM files, the command is printed.
	d := filepath.Dir(profile)
	// For curl.exe, a note that Windows' own (Schannel) cannot read PEM
	// files, with the certificate's thumbprint for the store instead.
	certPEM, err := os.ReadFile(filepath.Join(d, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	thumb := fmt.Sprintf("%X", sha1.Sum(certs[0].Raw))
	for _, sh := range []string{"powershell", "cmd", "posix"} {
		r := runWithStdin(t, nil, "", "token", "new", "--profile", profile, "--curl", "--shell", sh,
			"--cert", filepath.Join(d, "client.pem"), "--key", filepath.Join(d, "client-key.pem"))
		note := strings.Contains(r.stderr, "Schannel") && strings.Contains(r.stderr, `--cert CurrentUser\MY\`+thumb+" ")
		if r.code != exitOK || note != (sh != "posix") {
			t.Errorf("--shell %s: exit %d, Schannel note with thumbprint %s: %v, want %v\nstderr: %s", sh, r.code, thumb, note, sh != "posix", r.stderr)
		}
	}
	r = runWithStdin(t, nil, "", "token", "new", "--profile", profile, "--curl",
		"--cert", filepath.Join(d, "client.pem"), "--key", filepath.Join(d, "client-key.pem"))
	if r.code != exitOK || !strings.Contains(r.stdout, "--cert ") || !strings.Contains(r.stdout, "--cacert ") {
		t.Fatalf("with PEM files: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// The token that token new prints is one MESH accepts, once: the sandbox
// (with its real token rules) answers the handshake 200, then 403.
func TestTokenNewAcceptedBySandbox(t *testing.T) {
	srv, profile := startTestSandbox(t)
	r := runWithStdin(t, nil, "", "token", "new", "--profile", profile)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, testPassword) || strings.Contains(r.stdout+r.stderr, testSharedKey) {
		t.Fatalf("a secret leaked:\n%s%s", r.stdout, r.stderr)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig().Clone()}}
	defer client.CloseIdleConnections()
	for _, want := range []int{http.StatusOK, http.StatusForbidden} {
		req, err := http.NewRequest(http.MethodPost, srv.URL()+mesh.PathPrefix+"/X26ABC1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(mesh.HeaderAuthorization, strings.TrimSpace(r.stdout))
		req.Header.Set(mesh.HeaderClientVersion, "test")
		req.Header.Set(mesh.HeaderOSName, "linux")
		req.Header.Set(mesh.HeaderOSVersion, "N/A")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("handshake with the token: %d, want %d", resp.StatusCode, want)
		}
	}
}

// The real binary reads os.Stdin: a pipe is read, a terminal (or
// /dev/null, a character device too) is refused with a hint.
func TestTokenVerifyReadsRealStdin(t *testing.T) {
	good := mesh.NewToken(mesh.Credentials{Mailbox: "X26ABC1", Password: testPassword, SharedKey: testSharedKey}, time.Now())
	env := []string{"MESHDOCTOR_TEST_AS_MAIN=1", "MESH_MAILBOX_PASSWORD=" + testPassword, "MESH_SHARED_KEY=" + testSharedKey}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESH_") { // the machine's own MESH settings stay out
			env = append(env, kv)
		}
	}
	for _, tt := range []struct {
		name  string
		stdin func() (*os.File, error)
		code  int
		want  string
	}{
		{"pipe", func() (*os.File, error) {
			r, w, err := os.Pipe()
			if err == nil {
				go func() { w.WriteString("Authorization: " + good + "\n"); w.Close() }()
			}
			return r, err
		}, exitOK, "token: valid"},
		{"character device", func() (*os.File, error) { return os.Open(os.DevNull) }, exitUsage, "pipe it in"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, err := tt.stdin()
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out, errb bytes.Buffer
			cmd := exec.Command(os.Args[0], "token", "verify")
			cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, in, &out, &errb
			err = cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Fatalf("exit %d, want %d and %q\nstdout: %s\nstderr: %s", code, tt.code, tt.want, out.String(), errb.String())
			}
			assertTokenSecretsHidden(t, result{code, out.String(), errb.String()}, good, "")
		})
	}
}
