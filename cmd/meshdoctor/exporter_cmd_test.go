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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int)
	go func() {
		done <- runContext(ctx, []string{"exporter", "--config", cfg, "--listen", addr, "--web.config.file", web}, &out, &errb, func(string) string { return "" })
	}()
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/sd"); err == nil {
			break
		}
	}
	if err != nil {
		cancel()
		t.Fatalf("never served: %v\n%s", err, errb.String())
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
	cancel()
	select {
	case code := <-done:
		if code != exitOK && code != exitInterrupted {
			t.Errorf("exit %d after stop\n%s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if !strings.Contains(errb.String(), "meshdoctor exporter started") {
		t.Errorf("log: %s", errb.String())
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
