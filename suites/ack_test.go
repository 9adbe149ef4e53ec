package suites

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// keepServing is a proxy in front of a sandbox that goes on serving a
// message after its acknowledgement, as NHS's sandbox does: it answers the
// first acknowledgement of each message itself, without passing it on, and
// passes on later ones (the run's clean-up).
func keepServing(t *testing.T, backend string, backendTLS *tls.Config) (string, *tls.Config) {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	ack := regexp.MustCompile(`/inbox/[^/]+/status/acknowledged$`)
	var mu sync.Mutex
	swallowed := map[string]bool{}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{TLSClientConfig: backendTLS}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && ack.MatchString(r.URL.Path) {
			mu.Lock()
			first := !swallowed[r.URL.Path]
			swallowed[r.URL.Path] = true
			mu.Unlock()
			if first {
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.URL, &tls.Config{RootCAs: pool}
}

// TestAckGoneIsBrief: MESH-ACK-003 against a server that keeps serving an
// acknowledged message fails after its short bound, not the run's timeout,
// and records what the server answered.
func TestAckGoneIsBrief(t *testing.T) {
	srv, o := startSandbox(t)
	o.Target.URL, o.TLS = keepServing(t, srv.URL(), srv.ClientTLSConfig())
	o.Timeout = 30 * time.Second
	o.PollInterval = 100 * time.Millisecond
	o.ackGoneWait = time.Second
	o.Focus = []string{"MESH-ACK-003"}
	start := time.Now()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("MESH-ACK-003 took %s; want its short bound, not the %s timeout", took, o.Timeout)
	}
	s := byID(r)["MESH-ACK-003"]
	if s.Status != StatusFailed || !strings.Contains(s.Failure, "can still be downloaded (200)") {
		t.Fatalf("MESH-ACK-003 %s (%q), want failed: still served after acknowledgement", s.Status, s.Failure)
	}
	got := map[string]string{}
	for _, e := range s.Entries {
		got[e.Name] = e.Value
	}
	if got["status"] != "200" || got["download_attempts"] == "" || got["download_attempts"] == "1" {
		t.Errorf("entries %v, want status 200 and several download attempts", got)
	}
}

// TestAckGoneWaitBounds: the bound is the default, or the run's timeout
// when that is shorter.
func TestAckGoneWaitBounds(t *testing.T) {
	_, o := startSandbox(t)
	for _, tt := range []struct{ timeout, want time.Duration }{
		{2 * time.Minute, DefaultAckGoneWait},
		{5 * time.Second, 5 * time.Second},
	} {
		o.Timeout = tt.timeout
		d, err := o.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if d.ackGoneWait != tt.want {
			t.Errorf("timeout %s: bound %s, want %s", tt.timeout, d.ackGoneWait, tt.want)
		}
	}
}
