package suites

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/pki"
)

// dropper is a TCP proxy in front of addr that drops (closes at once) the
// connections for which drop says so and passes the others through.
func dropper(t *testing.T, addr string, drop func(n int) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n int
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			if drop(n) {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); b.Close() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDroppedConnection: the preflight tries a dropped connection once
// more; a connection that keeps dropping skips the suites saying
// "dropped", not "could not be reached".
func TestDroppedConnection(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		srv, o := startSandbox(t)
		u, _ := url.Parse(srv.URL())
		o.Target.URL = "https://" + dropper(t, u.Host, func(int) bool { return true })
		r, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		why := r.Specs[0].Failure
		if r.Summary.Skipped != r.Summary.Total || !strings.Contains(why, "dropped") || strings.Contains(why, "could not be reached") ||
			!strings.Contains(why, "tried once more") {
			t.Errorf("summary %+v, why %q", r.Summary, why)
		}
	})
	t.Run("after the preflight", func(t *testing.T) {
		srv, o := startSandbox(t)
		u, _ := url.Parse(srv.URL())
		o.Target.URL = "https://" + dropper(t, u.Host, func(n int) bool { return n > 1 })
		start := time.Now()
		r, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("the run lasted %s with a connection that keeps dropping", d)
		}
		if !strings.Contains(r.RootCause, "dropp") || !strings.Contains(r.RootCause, "were skipped for this one cause") || r.Summary.OK || r.Summary.Passed > 0 {
			t.Errorf("root cause %q, summary %+v", r.RootCause, r.Summary)
		}
	})
	t.Run("once", func(t *testing.T) {
		srv, o := startSandbox(t)
		u, _ := url.Parse(srv.URL())
		o.Target.URL = "https://" + dropper(t, u.Host, func(n int) bool { return n == 1 })
		o.LabelFilter = LabelLiveSafe
		r, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Summary.OK || r.RootCause != "" {
			t.Errorf("one dropped connection in the preflight: summary %+v, root cause %q, setup %v", r.Summary, r.RootCause, r.Setup)
		}
	})
}

// TestServerErrorEverywhere: a server that answers 500 with a long SOAP
// fault to everything gives one root cause, counted, and short failures.
func TestServerErrorEverywhere(t *testing.T) {
	fault := `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>` +
		strings.Repeat("<detail>java.lang.NullPointerException at uk.nhs.spine.mesh.Handler.handle(Handler.java:42)</detail>\n", 300) +
		`</soap:Fault></soap:Body></soap:Envelope>`
	var hits atomic.Int64
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, fault)
	}))
	defer ts.Close()
	_, o := startSandbox(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	o.Target.URL, o.TLS = ts.URL, &tls.Config{RootCAs: pool}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.RootCause, "answered 500 Internal Server Error to every one of the") ||
		!strings.Contains(r.RootCause, "specs failed for this one cause") {
		t.Errorf("root cause %q", r.RootCause)
	}
	for _, s := range r.Specs {
		if s.Status == StatusPassed {
			t.Errorf("%s passed against a server that answers 500 to everything", s.ID)
		}
		if len(s.Failure) > maxFailureWithCause+40 {
			t.Errorf("%s: failure of %d bytes", s.ID, len(s.Failure))
		}
	}
	t.Logf("root cause: %s\nfirst failure: %s", r.RootCause, r.Specs[0].Failure)
	if hits.Load() < 10 {
		t.Errorf("%d requests", hits.Load())
	}
}

// TestLiveByEvidence: a server that shows itself as live MESH — by a
// certificate issued to a live host, or chaining to NHS's live CA — is
// refused before anything is sent, whatever the URL (here an IP address).
func TestLiveByEvidence(t *testing.T) {
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Test"})
	if err != nil {
		t.Fatal(err)
	}
	liveTable := []pki.SpineCA{{CommonName: h.Root.Cert.Subject.CommonName, Issuer: h.Root.Cert.Subject.CommonName,
		Environments: []string{"live"}, SHA256: pki.Fingerprint(h.Root.Cert)}}
	tests := []struct {
		name  string
		names []string
		table []pki.SpineCA
		allow bool
		want  string
	}{
		{"certificate issued to a live host", []string{"mesh-sync.spineservices.nhs.uk"}, nil, false, "mesh-sync.spineservices.nhs.uk, a live MESH host"},
		{"an IP address the certificate does not name", []string{"mesh-sync.spineservices.nhs.uk"}, nil, false, "a live MESH host"},
		// The CLI verifies by hand (mesh.Target.TLSConfig), refusing in its
		// own VerifyConnection: the evidence must be seen all the same.
		{"an IP address the certificate does not name, verified as the CLI does", []string{"mesh-sync.spineservices.nhs.uk"}, nil, false, "a live MESH host"},
		{"chains to the live root", []string{"mesh.example.test"}, liveTable, false, "NHS's live CA"},
		{"chains to the live root, verified as the CLI does", []string{"mesh.example.test"}, liveTable, false, "NHS's live CA"},
		{"allowed", []string{"mesh-sync.spineservices.nhs.uk"}, nil, true, ""},
		{"not live", []string{"mesh.example.test"}, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips := []net.IP{net.IPv4(127, 0, 0, 1)}
			if strings.HasPrefix(tt.name, "an IP address") {
				ips = nil // reached by an address its certificate does not name
			}
			leaf, err := h.IssueServer(pki.LeafOptions{CommonName: tt.names[0], DNSNames: tt.names, IPs: ips})
			if err != nil {
				t.Fatal(err)
			}
			var sends atomic.Int64
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/outbox") {
					sends.Add(1)
				}
				w.WriteHeader(http.StatusForbidden)
			}))
			ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate(h.SubCA.Cert)}}
			ts.StartTLS()
			defer ts.Close()
			_, o := startSandbox(t)
			o.Target.URL, o.TLS = ts.URL, &tls.Config{RootCAs: h.Pool()}
			if strings.HasSuffix(tt.name, "as the CLI does") {
				bundle := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Root.Cert.Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
				o.Target.CABundle = bundle
				if o.TLS, err = o.Target.TLSConfig(); err != nil {
					t.Fatal(err)
				}
			}
			o.spineCAs, o.AllowLive = tt.table, tt.allow
			o.LabelFilter = LabelHandshake
			r, err := Run(context.Background(), o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.allow && len(r.Specs) > 0 {
					for _, s := range r.Specs {
						if s.Selected && !strings.Contains(strings.Join(s.Labels, ","), LabelLiveSafe) {
							t.Errorf("%s ran against live", s.ID)
						}
					}
				}
				return
			}
			var cfg *ConfigError
			if !errors.Is(err, ErrLiveRefused) || !errors.As(err, &cfg) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want a refusal naming %q", err, tt.want)
			}
			if sends.Load() != 0 {
				t.Errorf("%d sends before the refusal", sends.Load())
			}
		})
	}
}

// silentServerEnv is a run's environment whose MESH takes every request
// and never answers (no refusal, no reset), with a 1 s request timeout.
func silentServerEnv(t *testing.T) *env {
	t.Helper()
	release := make(chan struct{})
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return before Close waits for them
	_, o := startSandbox(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	o.Target.URL, o.TLS, o.Timeout = ts.URL, &tls.Config{RootCAs: pool}, time.Second
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEnv(o, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// TestCleanupGivesUpOnSilentServer: a server that stops answering (no
// refusal, no reset: silence) costs the clean-up seconds, and what it could
// not acknowledge is named with why.
func TestCleanupGivesUpOnSilentServer(t *testing.T) {
	e := silentServerEnv(t)
	ids := []string{"20261205000000000001_AAAAAA", "20261205000000000002_BBBBBB", "20261205000000000003_CCCCCC"}
	for _, id := range ids {
		e.ledger.add(id)
	}
	start := time.Now()
	e.finish(false)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("the clean-up took %s against a silent server", d)
	}
	left := strings.Join(e.cleanup.Leftovers, "\n")
	for _, id := range ids {
		if !strings.Contains(left, id+": MESH could not be reached to acknowledge it: no answer within") {
			t.Errorf("%s not named with why:\n%s", id, left)
		}
	}
	if e.cleanup.Remove == "" || e.cleanup.Acknowledged != 0 || e.cleanup.Sent != 3 {
		t.Errorf("clean-up %+v", e.cleanup)
	}
}

// TestSweepGivesUpOnSilentServer: with everything the run sent already
// acknowledged, the clean-up still lists the inbox for sends whose answer
// was lost; once MESH has stopped answering during the run, that look
// costs seconds too, not the clean-up client's own generous timeout.
func TestSweepGivesUpOnSilentServer(t *testing.T) {
	e := silentServerEnv(t)
	// The run's last requests got no answer: MESH stopped answering.
	e.obs.streak = goneAfter
	start := time.Now()
	e.finish(false)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("the clean-up took %s against a silent server", d)
	}
	if notes := strings.Join(e.cleanup.Notes, "\n"); !strings.Contains(notes, "list inbox") {
		t.Errorf("the failed look at the inbox is not noted: %q", notes)
	}
}
