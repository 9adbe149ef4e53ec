package exporter

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshdoctor/meshdoctor/internal/proxytest"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// Secrets of the test world: distinctive, so that a leak is found by grep.
const (
	testPassword  = "Pw-7Zx-unique-mailbox"
	testSharedKey = "Sk-9f3Q-unique-shared"
)

// world is an embedded sandbox with distinctive secrets, its PKI on disk,
// and a forwarder in front of it that counts (and may slow) connections.
type world struct {
	dir   string
	sb    *sandbox.Server
	fwd   *proxytest.Forwarder
	env   map[string]string
	files sandbox.Files
}

func newWorld(t *testing.T, mailboxes ...string) *world {
	t.Helper()
	return newFaultyWorld(t, nil, mailboxes...)
}

// newFaultyWorld is newWorld with the sandbox's faults.
func newFaultyWorld(t *testing.T, faults []sandbox.Fault, mailboxes ...string) *world {
	t.Helper()
	if len(mailboxes) == 0 {
		mailboxes = []string{"X26ABC1", "X26ABC2"}
	}
	w := &world{dir: t.TempDir(), env: map[string]string{"MB_PASSWORD": testPassword, "MB_SHARED_KEY": testSharedKey}}
	var mbs []sandbox.Mailbox
	for _, id := range mailboxes {
		mbs = append(mbs, sandbox.Mailbox{ID: id, Name: id, ODSCode: "X26", OrgCode: "X26", Password: testPassword})
	}
	sb, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: filepath.Join(w.dir, "pki"), SharedKey: testSharedKey, Mailboxes: mbs, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	w.sb, w.files = sb, sb.Files()
	w.fwd = newForwarder(t, sb.Addr().String())
	return w
}

func (w *world) getenv(name string) string { return w.env[name] }

// targetYAML is one target of the world, through the forwarder.
func (w *world) targetYAML(name, mailbox, extra string) string {
	return fmt.Sprintf(`  - name: %s
    url: https://%s
    mailbox: %s
    keystore: %s
    ca_bundle: %s
    workflow: TEST_WORKFLOW2
    secrets:
      mailbox_password: {env: MB_PASSWORD}
      shared_key: {env: MB_SHARED_KEY}
      keystore_password: {file: %s}
%s`, name, w.fwd.Addr, mailbox, w.files.ClientKeystore, w.files.CABundle, w.keystorePasswordFile(), extra)
}

func (w *world) keystorePasswordFile() string {
	p := filepath.Join(w.dir, "keystore-password")
	if _, err := os.Stat(p); err != nil {
		os.WriteFile(p, []byte(sandbox.KeystorePassword+"\n"), 0o600)
	}
	return p
}

// writeConfig writes a config file and returns its path.
func (w *world) writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(w.dir, "meshdoctor.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// served is an exporter behind an httptest server, with its log.
type served struct {
	exp *Exporter
	srv *httptest.Server
	log *syncBuffer
}

func (w *world) serve(t *testing.T, config string, maxConcurrent int) *served {
	t.Helper()
	s := &served{log: &syncBuffer{}}
	exp, err := New(Options{
		ConfigFile: w.writeConfig(t, config), Getenv: w.getenv, Version: "test", Revision: "abc",
		MaxConcurrent: maxConcurrent, Log: slog.New(slog.NewTextHandler(s.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.exp = exp
	s.srv = httptest.NewServer(exp.Handler())
	t.Cleanup(s.srv.Close)
	return s
}

// get fetches path, with the scrape timeout header when timeout > 0.
func (s *served) get(t *testing.T, path string, timeout float64) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	if timeout > 0 {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(timeout))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// parse reads an exposition back with Prometheus's own parser.
func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series of family name with these labels
// (name=value pairs); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// newForwarder is a connection-counting forwarder to the sandbox for the
// test's duration.
func newForwarder(t *testing.T, to string) *proxytest.Forwarder {
	t.Helper()
	f, err := proxytest.Forward(to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// syncBuffer is a log sink safe for the exporter's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
