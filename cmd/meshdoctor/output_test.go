package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/proxytest"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// Distinctive secrets of the redaction test, besides testPassword and
// testSharedKey (those of startTestSandbox): a keystore password of our
// own, a wrong password, and a proxy setting whose value the bundle must not
// show.
const (
	testKeystorePass  = "K3ystore-not-for-output"
	testWrongPassword = "Wr0ngPassw0rd-not-for-output"
	testProxyValue    = "pr0xy-value-not-for-output"
)

// tokenWithHMAC is an NHSMESH token with its HMAC in view.
var tokenWithHMAC = regexp.MustCompile(`(?i)NHSMESH\s+[^:\s"]+:[^:\s"]+:[0-9]+:[0-9]+:[0-9a-f]{64}`)

// secretTarget starts a sandbox with distinctive secrets (and faults) and
// returns the environment that points meshdoctor at it, with a keystore
// re-encoded under a distinctive password, and the lines of the client's
// private key (which must never be shown either).
func secretTarget(t *testing.T, pemIdentity bool, faults ...sandbox.Fault) (map[string]string, []string) {
	t.Helper()
	srv, _ := startTestSandbox(t, faults...)
	files := srv.Files()
	keyPEM := mustRead(t, files.ClientKey)
	env := map[string]string{
		"MESH_URL":              srv.URL(),
		"MESH_MAILBOX_ID":       "X26ABC1",
		"MESH_WORKFLOW_ID":      "TEST_WORKFLOW2",
		"MESH_MAILBOX_PASSWORD": testPassword,
		"MESH_SHARED_KEY":       testSharedKey,
		"MESH_CA_BUNDLE":        files.CABundle,
		"no_proxy":              "127.0.0.1,localhost," + testProxyValue,
	}
	if pemIdentity {
		env["MESH_CLIENT_CERT"], env["MESH_CLIENT_KEY"] = files.ClientCert, files.ClientKey
	} else {
		certs, err := pki.ParseCertificatesPEM(mustRead(t, files.ClientCert))
		if err != nil {
			t.Fatal(err)
		}
		key, err := pki.ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		p12, err := pki.EncodePKCS12(pki.KeyPair{Cert: certs[0], Key: key}, certs[1:], testKeystorePass)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "client.p12")
		if err := os.WriteFile(path, p12, 0o600); err != nil {
			t.Fatal(err)
		}
		env["MESH_KEYSTORE"], env["MESH_KEYSTORE_PASSWORD"] = path, testKeystorePass
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("no PEM block in the client key")
	}
	var keyLines []string
	for _, line := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: block.Bytes})), "\n") {
		if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
			keyLines = append(keyLines, line)
		}
	}
	return env, keyLines
}

// written is every byte a run wrote: stdout, stderr, and each file under
// dir, zips opened entry by entry.
func written(t *testing.T, r result, dir string) map[string][]byte {
	t.Helper()
	all := map[string][]byte{"stdout": []byte(r.stdout), "stderr": []byte(r.stderr)}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		all[path] = b
		if strings.HasSuffix(path, ".zip") {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, f := range zr.File {
				rc, err := f.Open()
				if err != nil {
					return err
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return err
				}
				all[path+"!"+f.Name] = body
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestNoSecretInAnyOutput runs check, passing and failing, with
// distinctive secrets, in every output format at once, and searches every
// byte written for the secrets, the private key and any token's HMAC. The
// exit code must not depend on the formats.
func TestNoSecretInAnyOutput(t *testing.T) {
	type form struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		keyLines []string
	}
	var forms []form
	env, key := secretTarget(t, false)
	forms = append(forms, form{"passing, keystore", env, nil, exitOK, key})
	env, key = secretTarget(t, true)
	forms = append(forms, form{"passing, PEM certificate and key", env, nil, exitOK, key})
	wrong := map[string]string{}
	for k, v := range env {
		wrong[k] = v
	}
	wrong["MESH_MAILBOX_PASSWORD"] = testWrongPassword
	forms = append(forms, form{"failing, wrong password", wrong, nil, exitFailed, key})
	env, key = secretTarget(t, false, sandbox.FaultRejectToken)
	forms = append(forms, form{"failing, token refused", env, nil, exitFailed, key})
	forms = append(forms,
		form{"embedded sandbox", nil, []string{"--sandbox"}, exitOK, nil},
		form{"embedded sandbox, token refused", nil, []string{"--sandbox=reject-token"}, exitFailed, nil},
	)
	secrets := []string{testPassword, testSharedKey, testKeystorePass, testWrongPassword, testProxyValue}
	// geo.source-ip may ask the internet for this machine's address; the
	// suites against a sandbox that is not embedded wait as for a real MESH
	// unless told otherwise.
	commands := [][]string{
		{"check", "--skip", "geo"},
		{"run", "--skip", "geo", "--poll-interval", "20ms", "--suite-timeout", "10s"},
		{"conform", "--poll-interval", "20ms", "--timeout", "10s"},
	}
	for _, f := range forms {
		for _, command := range commands {
			t.Run(command[0]+", "+f.name, func(t *testing.T) {
				testNoSecret(t, command, f.args, f.env, f.code, append(append([]string{}, secrets...), f.keyLines...))
			})
		}
	}
}

// testNoSecret runs one command in one form with every output at once.
func testNoSecret(t *testing.T, command, formArgs []string, env map[string]string, code int, secrets []string) {
	t.Helper()
	{
		{
			for _, outArgs := range [][]string{
				{"--format", "text"},
				{"--format", "text", "-v", "--out-dir", "{dir}/out", "--bundle", "{dir}/support.zip", "--junit", "{dir}/ci/junit.xml"},
				{"--format", "json", "--out-dir", "{dir}", "--bundle", "{dir}/b.zip"},
			} {
				dir := t.TempDir()
				if err := os.MkdirAll(filepath.Join(dir, "ci"), 0o755); err != nil {
					t.Fatal(err)
				}
				args := append(append([]string{}, command...), formArgs...)
				for i := 0; i < len(outArgs); i++ {
					if outArgs[i] == "--bundle" && command[0] == "conform" {
						i++ // a bundle is for check and run
						continue
					}
					args = append(args, strings.ReplaceAll(outArgs[i], "{dir}", dir))
				}
				r := runCLI(t, env, args...)
				if r.code != code {
					t.Fatalf("%v: exit %d, want %d (the same whatever the formats)\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
				}
				all := written(t, r, dir)
				if len(outArgs) > 2 && len(all) < 6 {
					t.Fatalf("%v wrote only %d outputs", args, len(all))
				}
				for _, leak := range leaks(all, secrets) {
					t.Errorf("%v: %s", args, leak)
				}
			}
		}
	}
}

// leaks says where in all a secret or a token's HMAC shows.
func leaks(all map[string][]byte, secrets []string) []string {
	var out []string
	for where, b := range all {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				out = append(out, fmt.Sprintf("%s shows the secret %q", where, s))
			}
		}
		if m := tokenWithHMAC.Find(b); m != nil {
			out = append(out, fmt.Sprintf("%s shows a token's HMAC: %s", where, m))
		}
	}
	return out
}

// TestLeakSearchFindsPlantedSecrets proves the search above can fail: a
// secret inside a zip entry and an HMAC on stderr are found.
func TestLeakSearchFindsPlantedSecrets(t *testing.T) {
	dir := t.TempDir()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("config.json")
	w.Write([]byte(`{"password":"` + testPassword + `"}`))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "b.zip"), zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := result{stderr: "Authorization: NHSMESH X26ABC1:abc:1:202611290600:" + strings.Repeat("ab", 32)}
	if got := leaks(written(t, r, dir), []string{testPassword}); len(got) != 2 {
		t.Errorf("found %d leaks, want 2: %v", len(got), got)
	}
}

// TestBundleContents: the bundle of a real run has what a service desk
// needs, secrets named by where they came from.
func TestBundleContents(t *testing.T) {
	env, _ := secretTarget(t, false)
	env["HTTPS_PROXY"] = "http://user:" + testProxyValue + "@proxy.invalid:3128"
	env["NO_PROXY"] = "127.0.0.1"
	dir := t.TempDir()
	bundle := filepath.Join(dir, "support.zip")
	r := runCLI(t, env, "check", "--bundle", bundle, "--only", "auth.credentials")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	all := written(t, r, dir)
	var config struct {
		Secrets map[string]string `json:"secrets"`
		URL     string            `json:"url"`
	}
	if err := json.Unmarshal(all[bundle+"!config.json"], &config); err != nil {
		t.Fatal(err)
	}
	if config.Secrets["password"] != "set, from MESH_MAILBOX_PASSWORD" || config.Secrets["keystore_password"] != "set, from MESH_KEYSTORE_PASSWORD" || config.URL == "" {
		t.Errorf("config.json: %+v", config)
	}
	var system struct {
		Proxies []string `json:"proxy_variables_set"`
		OS      string   `json:"os"`
	}
	if err := json.Unmarshal(all[bundle+"!system.json"], &system); err != nil {
		t.Fatal(err)
	}
	if strings.Join(system.Proxies, ",") != "HTTPS_PROXY,NO_PROXY,no_proxy" || system.OS == "" {
		t.Errorf("system.json: %+v", system)
	}
	var certs []map[string]string
	if err := json.Unmarshal(all[bundle+"!certificates.json"], &certs); err != nil {
		t.Fatal(err)
	}
	if len(certs) < 2 || !strings.Contains(certs[0]["subject"], "X26ABC1") || len(certs[0]["sha256_fingerprint"]) != 95 {
		t.Errorf("certificates.json: %+v", certs)
	}
	for where, b := range all {
		if bytes.Contains(b, []byte(testProxyValue)) || bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s shows a proxy value or a key", where)
		}
	}
	if !bytes.Contains(all[bundle+"!log.txt"], []byte("check auth.credentials pass")) {
		t.Errorf("log.txt:\n%s", all[bundle+"!log.txt"])
	}
}

// TestOutputFlagErrors: a report path that cannot be written is refused
// before the run (nothing on stdout: no check ran, no message was sent) as a
// usage error whose message names the flag.
func TestOutputFlagErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd  string
		flag string
		path string
	}{
		{"check", "--out-dir", file},
		{"check", "--out-dir", filepath.Join(file, "sub")},
		{"check", "--junit", filepath.Join(dir, "missing", "junit.xml")},
		{"check", "--junit", dir},
		{"check", "--junit", "/proc/meshdoctor-no-such.xml"},
		{"check", "--bundle", dir},
		{"check", "--bundle", filepath.Join(dir, "bundle") + "/"},
		{"run", "--junit", dir},
		{"conform", "--out-dir", file},
	} {
		args := []string{tc.cmd, "--sandbox", tc.flag, tc.path}
		if tc.cmd == "check" {
			args = append(args, "--only", "auth.credentials")
		}
		r := runCLI(t, nil, args...)
		first, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != exitUsage || r.stdout != "" || !strings.HasPrefix(first, "meshdoctor: ") || !strings.Contains(first, tc.flag) {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q: want exit 2 before the run, the first line naming %s", args, r.code, len(r.stdout), r.stderr, tc.flag)
		}
	}
}

// TestJUnitThroughSymlinkKeepsTheLink: the QA case, end to end.
func TestJUnitThroughSymlinkKeepsTheLink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link.xml")
	if err := os.Symlink("target.txt", link); err != nil {
		t.Skipf("cannot make symbolic links here: %v", err)
	}
	if got, err := os.Readlink(link); err != nil || got != "target.txt" {
		t.Skipf("symbolic links do not read back here (Wine): %q, %v", got, err)
	}
	r := runCLI(t, nil, "check", "--sandbox", "--only", "auth.credentials", "--junit", link)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if dest, err := os.Readlink(link); err != nil || dest != "target.txt" {
		t.Errorf("link.xml is no longer the link to target.txt: %q %v", dest, err)
	}
	if !bytes.Contains(mustRead(t, filepath.Join(dir, "target.txt")), []byte("<testsuites")) {
		t.Error("target.txt does not hold the JUnit report")
	}
}

// TestRunReportsAreValid: a real 'run' (checks and conformance) writes a
// JUnit file that junit-10.xsd accepts (when xmllint is installed), with a
// suite for each part, and a JSON report with both parts.
func TestRunReportsAreValid(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "run", "--sandbox", "--skip", "geo", "--format", "json", "--out-dir", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	var doc struct {
		Checks      []map[string]any `json:"checks"`
		Conformance struct {
			Specs []map[string]any `json:"specs"`
		} `json:"conformance"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Checks) == 0 || len(doc.Conformance.Specs) == 0 {
		t.Fatalf("the JSON report lacks checks or specs: %d, %d", len(doc.Checks), len(doc.Conformance.Specs))
	}
	junit := mustRead(t, filepath.Join(dir, "junit.xml"))
	for _, suite := range []string{`<testsuite name="meshdoctor checks"`, `<testsuite name="meshdoctor conformance"`} {
		if !bytes.Contains(junit, []byte(suite)) {
			t.Errorf("junit.xml lacks %s", suite)
		}
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed: junit.xml not validated against junit-10.xsd")
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("..", "..", "reports", "testdata", "junit-10.xsd"), filepath.Join(dir, "junit.xml")).CombinedOutput()
	if err != nil {
		t.Errorf("junit-10.xsd refuses the run's junit.xml: %v\n%s", err, out)
	}
}

// TestReportWriteFailsAfterTheRun: a path that passes the checks before the
// run but cannot take the report (a full device) is still an exit 3 naming
// the flag once, with the report on stdout, and the device is left as it was.
// As root the test makes its own full device (a regression would otherwise
// replace the system's /dev/full); others cannot replace /dev/full.
func TestReportWriteFailsAfterTheRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no character devices on Windows")
	}
	full := "/dev/full"
	if os.Geteuid() == 0 {
		full = filepath.Join(t.TempDir(), "full")
		if out, err := exec.Command("mknod", "-m", "666", full, "c", "1", "7").CombinedOutput(); err != nil {
			t.Skipf("cannot make a full device: %v %s", err, out)
		}
		if f, err := os.OpenFile(full, os.O_WRONLY, 0); err != nil {
			t.Skipf("devices cannot be opened here (nodev?): %v", err)
		} else {
			f.Close()
		}
	}
	before, err := os.Lstat(full)
	if err != nil || before.Mode()&os.ModeCharDevice == 0 {
		t.Skipf("no %s here", full)
	}
	r := runCLI(t, nil, "check", "--sandbox", "--only", "auth.credentials", "--junit", full)
	if r.code != exitCannotRun || !strings.Contains(r.stdout, "auth.credentials") ||
		strings.TrimSpace(r.stderr) != "meshdoctor: --junit: write "+full+": no space left on device" {
		t.Errorf("exit %d, stderr %q: want exit 3, the report on stdout and one line naming --junit", r.code, r.stderr)
	}
	after, err := os.Lstat(full)
	if err != nil || after.Mode() != before.Mode() || !os.SameFile(before, after) {
		t.Errorf("%s was replaced: %v %v", full, after, err)
	}
}

// A proxy password with every character that breaks a proxy URL.
const testProxyPassword = "Pr0xy/Secr3t#?@:%pw"

// TestNoProxySecretInAnyOutput: proxy credentials, with awkward
// characters, never show in any output or the bundle: through a proxy that
// takes them, one that refuses them, and a proxy variable that does not
// parse (which Go's own parser would have turned into a proxy named after
// the password's pieces).
func TestNoProxySecretInAnyOutput(t *testing.T) {
	env, key := secretTarget(t, false)
	proxy := proxytest.Start(t, proxytest.Config{Schemes: []string{"Basic"}, User: "alice", Password: testProxyPassword, CloseAfter407: true})
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range env {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	via := []string{"--proxy", "http://alice@" + proxy.Addr}
	good := with(map[string]string{"MESH_PROXY_PASSWORD": testProxyPassword})
	wrongPW := "Wr0ng/pr0xy#?@:%pw"
	wrong := with(map[string]string{"MESH_PROXY_PASSWORD": wrongPW})
	badValue := "http://alice:" + testProxyPassword + "@proxy.invalid:3128"
	bad := with(map[string]string{"HTTPS_PROXY": badValue, "MESH_URL": "https://192.0.2.1"})
	secrets := append([]string{testProxyPassword, wrongPW, badValue, "Secr3t", testKeystorePass}, key...)
	for _, command := range [][]string{
		{"check", "--skip", "geo"},
		{"run", "--skip", "geo", "--poll-interval", "20ms", "--suite-timeout", "10s"},
		{"conform", "--poll-interval", "20ms", "--timeout", "10s"},
	} {
		t.Run(command[0]+", through a Basic proxy", func(t *testing.T) {
			testNoSecret(t, command, via, good, exitOK, secrets)
		})
	}
	if proxy.Tunnels.Load() == 0 {
		t.Fatal("nothing went through the proxy")
	}
	t.Run("check, credentials refused", func(t *testing.T) {
		testNoSecret(t, []string{"check", "--skip", "geo"}, via, wrong, exitFailed, secrets)
		r := runCLI(t, wrong, append([]string{"check", "--only", "tcp"}, via...)...)
		if !strings.Contains(r.stdout, "the proxy refused the credentials for user alice") {
			t.Errorf("the refusal is not named:\n%s", r.stdout)
		}
	})
	t.Run("check, a proxy variable that does not parse", func(t *testing.T) {
		testNoSecret(t, []string{"check", "--only", "tcp"}, nil, bad, exitFailed, secrets)
		r := runCLI(t, bad, "check", "--only", "tcp")
		if !strings.Contains(r.stdout, "percent-encode special characters in the proxy password") || strings.Contains(r.stdout, "http:80") {
			t.Errorf("the bad value is not explained:\n%s", r.stdout)
		}
	})
}
