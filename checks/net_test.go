package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshdoctor/meshdoctor/geo/geotest"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// Failing networks, made on loopback: each gives the check that should
// fail first, with a summary and a remediation that name the cause.

var (
	testPKIOnce sync.Once
	testPKI     *pki.Hierarchy
	testServer  pki.KeyPair
	testPKIErr  error
)

// serverCert is a loopback server certificate from a test CA.
func serverCert(t *testing.T) (*pki.Hierarchy, tls.Certificate) {
	t.Helper()
	testPKIOnce.Do(func() {
		testPKI, testPKIErr = pki.NewHierarchy(pki.HierarchyOptions{Name: "checks test"})
		if testPKIErr == nil {
			testServer, testPKIErr = testPKI.IssueServer(pki.LeafOptions{CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		}
	})
	if testPKIErr != nil {
		t.Fatal(testPKIErr)
	}
	return testPKI, testServer.TLSCertificate(testPKI.SubCA.Cert)
}

func caFile(t *testing.T, h *pki.Hierarchy) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pki.EncodeCertificatesPEM(h.Root.Cert, h.SubCA.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// listen starts a loopback listener that hands each connection to serve.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

func runAt(t *testing.T, target mesh.Target, opts Options, only ...string) map[string]Result {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	opts.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	cs, err := Select(only, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range Run(context.Background(), target, cs, opts, nil) {
		out[r.ID] = r
	}
	return out
}

func expect(t *testing.T, res map[string]Result, id string, status Status, words ...string) {
	t.Helper()
	r, ok := res[id]
	if !ok {
		t.Fatalf("%s did not run", id)
	}
	text := strings.ToLower(r.Summary + " " + r.Remediation)
	if r.Status != status {
		t.Fatalf("%s: %s %q, want %s", id, r.Status, r.Summary, status)
	}
	for _, w := range words {
		if !strings.Contains(text, strings.ToLower(w)) {
			t.Errorf("%s: %q / %q does not say %q", id, r.Summary, r.Remediation, w)
		}
	}
}

func TestFailingNetworks(t *testing.T) {
	h, cert := serverCert(t)
	ca := caFile(t, h)

	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	silent := listen(t, func(c net.Conn) { time.Sleep(5 * time.Second); c.Close() })
	resetter := listen(t, func(c net.Conn) {
		buf := make([]byte, 1)
		c.Read(buf)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	plainHTTP := listen(t, func(c net.Conn) {
		defer c.Close()
		c.Read(make([]byte, 512))
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	})
	tls10 := listen(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})
		tc.Handshake()
		tc.Close()
	})
	http500 := listen(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			io.WriteString(w, "<html><head><title>502 Proxy Error</title></head></html>")
		})}
		srv.Serve(&oneConn{c: tc})
	})
	creds := mesh.Credentials{Mailbox: "X26ABC1", Password: "pw", SharedKey: "key"}
	tests := []struct {
		name   string
		addr   string
		id     string
		status Status
		words  []string
	}{
		{"closed port", closed, "tcp.connect", Fail, []string{"refused", "port"}},
		{"accepts and never speaks", silent, "tls.server", Fail, []string{"never answered", "443"}},
		{"resets", resetter, "tls.server", Fail, []string{"closed the connection", "firewall"}},
		{"plain HTTP on the TLS port", plainHTTP, "tls.server", Fail, []string{"does not speak TLS", "https"}},
		{"TLS 1.0 only", tls10, "tls.server", Fail, []string{"TLS 1.1 or older", "TLS 1.2"}},
		{"an HTML error page", http500, "mesh.handshake", Fail, []string{"internal error", "502 Proxy Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := mesh.Target{URL: "https://" + tt.addr, CABundle: ca, Credentials: creds}
			res := runAt(t, target, Options{Timeout: 700 * time.Millisecond})
			expect(t, res, tt.id, tt.status, tt.words...)
		})
	}
}

// oneConn is a listener that yields one connection, for http.Server.
type oneConn struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c; l.done = make(chan struct{}) })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

// fakeDNS answers every question with NXDOMAIN, on loopback.
func fakeDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc := geotest.ListenUDP(t, "udp", "127.0.0.1:0")
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func TestDNSFailuresAreExplained(t *testing.T) {
	r := fakeDNS(t)
	tests := []struct {
		target mesh.Target
		words  []string
	}{
		{mesh.Target{Environment: mesh.Integration, Route: mesh.HSCN}, []string{"NXDOMAIN", "resolves only on HSCN"}},
		{mesh.Target{URL: "https://msg.int.spine2.ncrs.nh.uk"}, []string{"misspelling of msg.int.spine2.ncrs.nhs.uk"}},
		{mesh.Target{URL: "https://mesh.example.test"}, []string{"no such host", "check the host name"}},
	}
	for _, tt := range tests {
		res := runAt(t, tt.target, Options{Resolver: r}, "dns.resolve")
		expect(t, res, "dns.resolve", Fail, tt.words...)
	}
	res := runAt(t, mesh.Target{URL: "https://127.0.0.1:1"}, Options{Resolver: r}, "dns.resolve")
	expect(t, res, "dns.resolve", Pass, "nothing to resolve")
}

func TestEligibility(t *testing.T) {
	tests := []struct {
		target mesh.Target
		status Status
		words  []string
	}{
		{mesh.Target{Environment: mesh.Integration}, Pass, []string{"Integration over internet"}},
		{mesh.Target{Environment: mesh.Live}, Pass, []string{"LIVE"}},
		{mesh.Target{Environment: mesh.Development, Route: mesh.Internet}, Fail, []string{"not offered over internet", "--route hscn"}},
		{mesh.Target{Environment: mesh.Integration, Route: mesh.HSCN}, Warn, []string{"deprecated"}},
		{mesh.Target{Environment: mesh.Deployment, Route: mesh.HSCN}, Warn, []string{"only in Integration"}},
		{mesh.Target{URL: "https://mesh.spineservices.nhs.uk"}, Fail, []string{"retired", "mesh-sync.spineservices.nhs.uk"}},
		{mesh.Target{URL: "https://msg.int.spine2.ncrs.nh.uk"}, Fail, []string{"misspelling", "msg.int.spine2.ncrs.nhs.uk"}},
		{mesh.Target{URL: "https://msg.intspineservices.nhs.uk", Environment: mesh.Live}, Warn, []string{"Integration", "Live"}},
		{mesh.Target{URL: "https://127.0.0.1:8700"}, Skip, []string{"not an NHS MESH host"}},
	}
	for _, tt := range tests {
		res := runAt(t, tt.target, Options{}, "target.eligibility")
		expect(t, res, "target.eligibility", tt.status, tt.words...)
	}
}

func TestCredentials(t *testing.T) {
	tests := []struct {
		creds  mesh.Credentials
		status Status
		words  []string
	}{
		{mesh.Credentials{Mailbox: "X26ABC1", Password: "p", SharedKey: "k"}, Pass, []string{"verifies"}},
		{mesh.Credentials{Mailbox: "x26abc1", Password: "p", SharedKey: "k"}, Fail, []string{"lower-case", "Use X26ABC1"}},
		{mesh.Credentials{Mailbox: "X26ABC1", SharedKey: "k"}, Fail, []string{"password is not set", "MESH_MAILBOX_PASSWORD"}},
		{mesh.Credentials{Mailbox: "X26ABC1", Password: "p"}, Fail, []string{"shared key is not set", "MESH_SHARED_KEY"}},
		{mesh.Credentials{Password: "p", SharedKey: "k"}, Fail, []string{"no mailbox", "--mailbox"}},
		{mesh.Credentials{Mailbox: "X26 ABC1", Password: "p", SharedKey: "k"}, Fail, []string{"space"}},
	}
	for _, tt := range tests {
		res := runAt(t, mesh.Target{Credentials: tt.creds}, Options{}, "auth.credentials")
		expect(t, res, "auth.credentials", tt.status, tt.words...)
		for _, f := range res["auth.credentials"].Evidence {
			if tt.creds.Password != "" && strings.Contains(f.Value, "p") && f.Key == "password" && f.Value != "set" {
				t.Errorf("evidence %s=%q may show the password", f.Key, f.Value)
			}
		}
	}
}

// sandboxTarget starts a sandbox (on loopback, with its files in a temp
// dir) and returns it with the target its profile describes.
func sandboxTarget(t *testing.T, cfg sandbox.Config) (*sandbox.Server, mesh.Target) {
	t.Helper()
	cfg.Listen, cfg.PKIDir = "127.0.0.1:0", t.TempDir()
	srv, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	target, err := mesh.LoadProfile(srv.Files().Profile)
	if err != nil {
		t.Fatal(err)
	}
	return srv, target
}

func TestServerNamesAndRefusals(t *testing.T) {
	h, _ := serverCert(t)
	ca := caFile(t, h)
	cnOnly, err := h.IssueServer(pki.LeafOptions{CommonName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.IssueServer(pki.LeafOptions{CommonName: "other.example", DNSNames: []string{"other.example"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := h.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC1", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "client-key.pem")
	certFile := filepath.Join(t.TempDir(), "client.pem")
	keyPEM, _ := pki.EncodePrivateKeyPEM(client.Key)
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(certFile, pki.EncodeCertificatesPEM(client.Cert, h.SubCA.Cert), 0o600)

	serveHTTPS := func(cert pki.KeyPair) string {
		return listen(t, func(c net.Conn) {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate(h.SubCA.Cert)}})
			(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}).Serve(&oneConn{c: tc})
		})
	}
	// A TLS 1.2 server that drops the connection, without an alert, once it
	// has the client's certificate: how some front ends refuse one.
	dropper := listen(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{testServer.TLSCertificate(h.SubCA.Cert)},
			MaxVersion:   tls.VersionTLS12,
			ClientAuth:   tls.RequireAnyClientCert,
			VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return errors.New("refused")
			},
		})
		tc.Handshake()
	})
	creds := mesh.Credentials{Mailbox: "X26ABC1", Password: "pw", SharedKey: "key"}
	_, port, _ := net.SplitHostPort(serveHTTPS(cnOnly))
	res := runAt(t, mesh.Target{URL: "https://localhost:" + port, CABundle: ca, Credentials: creds}, Options{}, "tls.server")
	expect(t, res, "tls.server", Pass, "trusted")
	if got, _ := res["tls.server"].Evidence.Get("host name"); !strings.Contains(got, "CN") {
		t.Errorf("a CN-only certificate (HSCN style) should be accepted and said so, evidence %q", got)
	}
	res = runAt(t, mesh.Target{URL: "https://" + serveHTTPS(other), CABundle: ca, Credentials: creds}, Options{}, "tls.server")
	expect(t, res, "tls.server", Fail, "is for other.example, not 127.0.0.1", "host")

	res = runAt(t, mesh.Target{URL: "https://" + dropper, CABundle: ca, Credentials: creds, CertFile: certFile, KeyFile: keyFile}, Options{}, "tls.client-auth")
	expect(t, res, "tls.server", Pass)
	expect(t, res, "tls.client-auth", Fail, "closed as soon as it had our certificate")
}
