package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestExporterBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "Inline-Secret-4711"
	good := write("good.yml", "targets:\n  - name: a\n    url: https://127.0.0.1:1\n    modules: [identity]\n")
	inline := write("inline.yml", "targets:\n  - name: a\n    url: https://127.0.0.1:1\n    mailbox: X26ABC1\n    secrets:\n      mailbox_password: "+secret+"\n")
	unset := write("unset.yml", "targets:\n  - name: a\n    url: https://127.0.0.1:1\n    mailbox: X26ABC1\n    secrets:\n      mailbox_password: {env: NOT_SET_HERE}\n      shared_key: {env: NOT_SET_HERE}\n")
	unknownModule := write("module.yml", "targets:\n  - name: a\n    url: https://127.0.0.1:1\n    modules: [http]\n")
	invalid := write("invalid.yml", "targets: [\n")
	badWeb := write("web.yml", "tls_server_config: [\n")
	webUnknown := write("web2.yml", "basic_auth_users: {admin: notahash}\ncolour: blue\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config", []string{"exporter"}, exitUsage, "--config"},
		{"missing config", []string{"exporter", "--config", filepath.Join(dir, "nope.yml")}, exitUsage, "does not exist"},
		{"invalid config", []string{"exporter", "--config", invalid}, exitUsage, "invalid.yml"},
		{"inline secret", []string{"exporter", "--config", inline}, exitUsage, "inline secret is refused"},
		{"unset secret variable", []string{"exporter", "--config", unset}, exitUsage, "NOT_SET_HERE is not set"},
		{"unknown module", []string{"exporter", "--config", unknownModule}, exitUsage, `unknown module "http"`},
		{"web config does not parse", []string{"exporter", "--config", good, "--web.config.file", badWeb}, exitUsage, "--web.config.file"},
		{"web config unknown field", []string{"exporter", "--config", good, "--web.config.file", webUnknown}, exitUsage, "--web.config.file"},
		{"missing web config", []string{"exporter", "--config", good, "--web.config.file", filepath.Join(dir, "none.yml")}, exitUsage, "--web.config.file"},
		{"port in use", []string{"exporter", "--config", good, "--listen", busy.Addr().String()}, exitCannotRun, "address already in use"},
		{"bad listen address", []string{"exporter", "--config", good, "--listen", "9834"}, exitUsage, "host:port"},
		{"listen port out of range", []string{"exporter", "--config", good, "--listen", "127.0.0.1:99999"}, exitUsage, "from 0 to 65535"},
		{"bad concurrency", []string{"exporter", "--config", good, "--max-concurrent", "0"}, exitUsage, "--max-concurrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("not one line:\n%s", r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the inline secret is shown: %s", r.stderr)
			}
		})
	}
}

// The exporter serves until it is stopped, with basic auth from the web
// config, and exits 0.
func TestExporterServesAndStops(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "meshdoctor.yml")
	os.WriteFile(cfg, []byte("targets:\n  - name: a\n    url: https://127.0.0.1:1\n    modules: [identity]\n    labels: {organisation: RXX}\n"), 0o600)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	os.WriteFile(web, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600)
	addr, stop := startExporter(t, nil, "--config", cfg, "--web.config.file", web)
	resp, err := http.Get("http://" + addr + "/sd")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/sd without credentials: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/sd", nil)
	req.SetBasicAuth("prom", "pw")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"organisation":"RXX"`) {
		t.Errorf("/sd with credentials: %d %s", resp.StatusCode, body)
	}
	code, log := stop()
	if code != exitOK && code != exitInterrupted {
		t.Errorf("exit %d after stop\n%s", code, log)
	}
	if !strings.Contains(log, "meshdoctor exporter started") {
		t.Errorf("log: %s", log)
	}
}

// startExporter runs 'meshdoctor exporter ARGS --listen (a free port)' in
// this process until stop, which returns its exit code and stderr.
func startExporter(t *testing.T, env map[string]string, args ...string) (addr string, stop func() (int, string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append(append([]string{"exporter"}, args...), "--listen", addr), &out, &errb, func(k string) string { return env[k] })
	}()
	stop = func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, out.String() + errb.String()
		case <-time.After(20 * time.Second):
			t.Fatal("the exporter did not stop")
			return 0, ""
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, stop
		}
		select {
		case code := <-done:
			t.Fatalf("the exporter exited %d:\n%s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the exporter never listened:\n%s", errb.String())
		}
	}
}

// TestExporterNeverShowsSecrets extends the secret search to the exporter:
// passing and failing probes of every module, their debug reports, /metrics,
// /sd, the index page, a refused reload and the log.
func TestExporterNeverShowsSecrets(t *testing.T) {
	env, keyLines := secretTarget(t, false)
	env["WRONG_PASSWORD"] = testWrongPassword
	dir := t.TempDir()
	target := func(name, passwordVar string) string {
		return "  - name: " + name + "\n    url: " + env["MESH_URL"] + "\n    mailbox: X26ABC1\n    workflow: TEST_WORKFLOW2\n" +
			"    keystore: " + env["MESH_KEYSTORE"] + "\n    ca_bundle: " + env["MESH_CA_BUNDLE"] + "\n" +
			"    secrets:\n      mailbox_password: {env: " + passwordVar + "}\n      shared_key: {env: MESH_SHARED_KEY}\n      keystore_password: {env: MESH_KEYSTORE_PASSWORD}\n" +
			"    modules: [check, identity, roundtrip]\n    labels: {organisation: RXX}\n"
	}
	config := "targets:\n" + target("good", "MESH_MAILBOX_PASSWORD") + target("wrong", "WRONG_PASSWORD")
	cfg := filepath.Join(dir, "meshdoctor.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, stop := startExporter(t, env, "--config", cfg)
	all := map[string][]byte{}
	fetch := func(method, path string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "20")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		all[method+" "+path] = b
		return resp.StatusCode
	}
	for _, name := range []string{"good", "wrong"} {
		for _, module := range []string{"check", "identity", "roundtrip"} {
			fetch("GET", "/probe?target="+name+"&module="+module)
			fetch("GET", "/probe?target="+name+"&module="+module+"&debug=true")
		}
	}
	fetch("GET", "/probe?target=nope")
	for _, p := range []string{"/metrics", "/sd", "/"} {
		fetch("GET", p)
	}
	if !strings.Contains(string(all["GET /probe?target=wrong&module=check&debug=true"]), "FAIL") ||
		!strings.Contains(string(all["GET /probe?target=good&module=roundtrip&debug=true"]), "7 passed") {
		t.Errorf("the probes did not run as planned:\n%s\n%s", all["GET /probe?target=wrong&module=check&debug=true"], all["GET /probe?target=good&module=roundtrip&debug=true"])
	}
	// A refused reload: a secret written inline, by mistake.
	os.WriteFile(cfg, []byte(strings.Replace(config, "{env: MESH_SHARED_KEY}", testSharedKey, 1)), 0o600)
	if code := fetch("POST", "/-/reload"); code != http.StatusInternalServerError {
		t.Errorf("reload of a config with an inline secret: %d", code)
	}
	_, log := stop()
	all["log"] = []byte(log)
	for _, leak := range leaks(all, append([]string{testPassword, testSharedKey, testKeystorePass, testWrongPassword}, keyLines...)) {
		t.Error(leak)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
