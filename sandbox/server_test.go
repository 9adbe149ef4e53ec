package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// sharedPKI is one sandbox PKI directory for the whole test binary: RSA
// key generation is the slowest part of starting a sandbox.
var sharedPKI struct {
	once sync.Once
	dir  string
	err  error
}

func pkiDir(t *testing.T) string {
	t.Helper()
	sharedPKI.once.Do(func() {
		sharedPKI.dir, sharedPKI.err = os.MkdirTemp("", "meshdoctor-sandbox-pki-")
		if sharedPKI.err == nil {
			_, sharedPKI.err = loadOrCreateIdentity(sharedPKI.dir, "X26ABC1", "X26")
		}
	})
	if sharedPKI.err != nil {
		t.Fatal(sharedPKI.err)
	}
	return sharedPKI.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedPKI.dir != "" {
		os.RemoveAll(sharedPKI.dir)
	}
	os.Exit(code)
}

func startSandbox(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.PKIDir == "" && !cfg.Plain {
		cfg.PKIDir = pkiDir(t)
	}
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func httpClient(tlsCfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true},
	}
}

func handshakeRequest(t *testing.T, base string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/messageexchange/X26ABC1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", mesh.NewToken(mesh.Credentials{Mailbox: "X26ABC1", Password: "password", SharedKey: "TestKey"}, at))
	req.Header.Set("Mex-ClientVersion", "meshdoctor-test")
	req.Header.Set("Mex-OSName", "Linux")
	req.Header.Set("Mex-OSVersion", "test")
	return req
}

func TestHandshakeOverMutualTLS(t *testing.T) {
	srv := startSandbox(t, Config{})
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	resp, err := httpClient(srv.ClientTLSConfig()).Do(handshakeRequest(t, srv.URL(), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %s", resp.Status)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", resp.TLS)
	}
}

// tlsDial handshakes with the sandbox and returns the error, if any.
func tlsDial(t *testing.T, srv *Server, cfg *tls.Config) (*tls.ConnectionState, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", srv.Addr().String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tc := c.(*tls.Conn)
	// TLS 1.3 reports a refused client certificate only on the first read.
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return nil, err
	}
	if _, err := tc.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	return &st, nil
}

func TestClientAuthPolicies(t *testing.T) {
	noCert := func(srv *Server) *tls.Config { return &tls.Config{RootCAs: srv.CAPool()} }
	tests := []struct {
		name    string
		auth    ClientAuth
		tls     func(*Server) *tls.Config
		wantErr string
	}{
		{"require with cert", RequireClientCert, (*Server).ClientTLSConfig, ""},
		{"require without cert", RequireClientCert, noCert, "certificate required"},
		{"request without cert", RequestClientCert, noCert, ""},
		{"none without cert", NoClientCert, noCert, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSandbox(t, Config{ClientAuth: tt.auth})
			_, err := tlsDial(t, srv, tt.tls(srv))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}

func TestTLSFaults(t *testing.T) {
	tests := []struct {
		fault Fault
		check func(t *testing.T, st *tls.ConnectionState, err error)
	}{
		{FaultExpiredServerCert, func(t *testing.T, _ *tls.ConnectionState, err error) {
			var inv x509.CertificateInvalidError
			if !errors.As(err, &inv) || inv.Reason != x509.Expired {
				t.Fatalf("err = %v, want an expired-certificate error", err)
			}
		}},
		{FaultUnknownServerCA, func(t *testing.T, _ *tls.ConnectionState, err error) {
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) {
				t.Fatalf("err = %v, want x509.UnknownAuthorityError", err)
			}
		}},
		{FaultSHA1ServerCert, func(t *testing.T, _ *tls.ConnectionState, err error) {
			// Go reports it as an unknown authority whose signature it would
			// not check, naming the algorithm.
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) || !strings.Contains(err.Error(), "insecure algorithm SHA1") {
				t.Fatalf("err = %v, want a refusal of the SHA-1 signature", err)
			}
		}},
		{FaultUnknownClientCA, func(t *testing.T, _ *tls.ConnectionState, err error) {
			// What NHS's internet endpoints answer to a certificate they do not accept.
			if err == nil || !strings.Contains(err.Error(), "remote error: tls: unknown certificate authority") {
				t.Fatalf("err = %v, want TLS alert unknown_ca", err)
			}
		}},
		{FaultTLS10Only, func(t *testing.T, _ *tls.ConnectionState, err error) {
			if err == nil || !strings.Contains(err.Error(), "protocol version") {
				t.Fatalf("err = %v, want a protocol version failure", err)
			}
		}},
		{FaultReset, func(t *testing.T, _ *tls.ConnectionState, err error) {
			if err == nil || !(errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")) {
				t.Fatalf("err = %v, want the connection reset", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			srv := startSandbox(t, Config{Faults: []Fault{tt.fault}})
			st, err := tlsDial(t, srv, srv.ClientTLSConfig())
			tt.check(t, st, err)
		})
	}
}

func TestNoIntermediate(t *testing.T) {
	srv := startSandbox(t, Config{Faults: []Fault{FaultNoIntermediate}})
	// A client that trusts only the root cannot build the chain.
	cfg := srv.ClientTLSConfig()
	roots := x509.NewCertPool()
	cas, err := pki.ParseCertificatesPEM(mustRead(t, filepath.Join(srv.Config().PKIDir, fileRootCert)))
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(cas[0])
	cfg.RootCAs = roots
	_, err = tlsDial(t, srv, cfg)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("err = %v, want x509.UnknownAuthorityError", err)
	}
	// And the server really sent only its leaf.
	cfg.InsecureSkipVerify = true
	st, err := tlsDial(t, srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PeerCertificates) != 1 {
		t.Fatalf("server sent %d certificates, want 1", len(st.PeerCertificates))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHTTPFaults(t *testing.T) {
	t.Run("clock-skew", func(t *testing.T) {
		srv := startSandbox(t, Config{Faults: []Fault{FaultClockSkew}})
		resp, err := httpClient(srv.ClientTLSConfig()).Do(handshakeRequest(t, srv.URL(), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("token on the real clock: %s, want 403", resp.Status)
		}
		date, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil {
			t.Fatal(err)
		}
		if skew := time.Until(date); skew < ClockSkew-time.Minute || skew > ClockSkew+time.Minute {
			t.Fatalf("Date is %s off, want %s", skew, ClockSkew)
		}
		// A client that follows the server's clock gets in.
		resp, err = httpClient(srv.ClientTLSConfig()).Do(handshakeRequest(t, srv.URL(), date))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token on the server's clock: %s", resp.Status)
		}
	})
	t.Run("reject-token", func(t *testing.T) {
		srv := startSandbox(t, Config{Faults: []Fault{FaultRejectToken}})
		resp, err := httpClient(srv.ClientTLSConfig()).Do(handshakeRequest(t, srv.URL(), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s, want 403", resp.Status)
		}
	})
	t.Run("http-500", func(t *testing.T) {
		srv := startSandbox(t, Config{Faults: []Fault{FaultHTTP500}})
		resp, err := httpClient(srv.ClientTLSConfig()).Do(handshakeRequest(t, srv.URL(), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte("soap:Fault")) {
			t.Fatalf("%s %s, want 500 with a SOAP fault", resp.Status, body)
		}
		apiErr := mesh.DecodeError("POST", "/messageexchange/X26ABC1", resp.StatusCode, body)
		if apiErr.Body == "" {
			t.Fatal("the client's decoder should keep the non-JSON body")
		}
	})
	t.Run("slow", func(t *testing.T) {
		srv := startSandbox(t, Config{Faults: []Fault{FaultSlow}})
		start := time.Now()
		resp, err := httpClient(srv.ClientTLSConfig()).Get(srv.URL() + "/messageexchange/_ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if took := time.Since(start); took < SlowDelay {
			t.Fatalf("answered in %s, want at least %s", took, SlowDelay)
		}
	})
}

func TestPlainHTTP(t *testing.T) {
	srv := startSandbox(t, Config{Plain: true})
	if !strings.HasPrefix(srv.URL(), "http://") || srv.ClientTLSConfig() != nil {
		t.Fatalf("plain sandbox URL %s", srv.URL())
	}
	resp, err := http.Get(srv.URL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
}

func TestPKIDirIsReusedAndComplete(t *testing.T) {
	dir := t.TempDir()
	first := startSandbox(t, Config{PKIDir: dir})
	files := first.Files()
	firstCA := mustRead(t, files.CABundle)
	first.Close()

	second := startSandbox(t, Config{PKIDir: dir})
	if !bytes.Equal(firstCA, mustRead(t, second.Files().CABundle)) {
		t.Fatal("restart with the same --pki-dir made a new CA")
	}
	ks, err := pki.DecodePKCS12(mustRead(t, files.ClientKeystore), KeystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ks.Leaf.Subject.CommonName, ".api.mesh-client.nhs.uk") {
		t.Fatalf("client CN %q", ks.Leaf.Subject.CommonName)
	}
	target, err := mesh.LoadProfile(files.Profile)
	if err != nil {
		t.Fatal(err)
	}
	if target.URL != second.URL() || target.Credentials.Mailbox != "X26ABC1" || target.Workflow == "" {
		t.Fatalf("profile %+v", target)
	}
	tlsCfg, err := target.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsDial(t, second, tlsCfg); err != nil {
		t.Fatalf("the profile's TLS files do not reach the sandbox: %v", err)
	}
	if info, err := os.Stat(filepath.Join(dir, dirPrivate, fileSubCAKey)); err != nil || (runtime.GOOS != "windows" && info.Mode().Perm() != 0o600) {
		t.Fatalf("CA key file %v %v: want mode 0600", info, err)
	}
}

// The expiring-client-cert fault writes a client certificate a few days
// from its end into the PKI dir, still accepted by the sandbox; a restart
// without the fault on the same dir issues a full-length one again under
// the same CA.
func TestExpiringClientCertFault(t *testing.T) {
	dir := t.TempDir()
	clientLeft := func(srv *Server) time.Duration {
		t.Helper()
		ks, err := pki.DecodePKCS12(mustRead(t, srv.Files().ClientKeystore), KeystorePassword)
		if err != nil {
			t.Fatal(err)
		}
		pemCerts, err := pki.ParseCertificatesPEM(mustRead(t, srv.Files().ClientCert))
		if err != nil {
			t.Fatal(err)
		}
		if !pemCerts[0].Equal(ks.Leaf) {
			t.Fatal("client.pem and client.p12 hold different certificates")
		}
		target, err := mesh.LoadProfile(srv.Files().Profile)
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg, err := target.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tlsDial(t, srv, tlsCfg); err != nil {
			t.Fatalf("the sandbox refuses its own client certificate: %v", err)
		}
		return time.Until(ks.Leaf.NotAfter)
	}

	faulty := startSandbox(t, Config{PKIDir: dir, Faults: []Fault{FaultExpiringClient}})
	ca := mustRead(t, faulty.Files().CABundle)
	if left := clientLeft(faulty); left <= ExpiringClientLifetime-time.Hour || left > ExpiringClientLifetime {
		t.Fatalf("with the fault the client certificate has %s left, want about %s", left, ExpiringClientLifetime)
	}
	faulty.Close()

	healed := startSandbox(t, Config{PKIDir: dir})
	if left := clientLeft(healed); left < 300*24*time.Hour {
		t.Fatalf("without the fault the client certificate has %s left, want about a year", left)
	}
	if !bytes.Equal(ca, mustRead(t, healed.Files().CABundle)) {
		t.Fatal("renewing the client certificate made a new CA")
	}
}

func TestLogNeverShowsSecrets(t *testing.T) {
	var buf syncBuffer
	srv := startSandbox(t, Config{Log: &buf})
	req := handshakeRequest(t, srv.URL(), time.Now())
	resp, err := httpClient(srv.ClientTLSConfig()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	log := buf.String()
	if !strings.Contains(log, "POST /messageexchange/X26ABC1 200") {
		t.Fatalf("log %q lacks the request line", log)
	}
	tok := req.Header.Get("Authorization")
	for _, secret := range []string{"TestKey", "password", tok[strings.LastIndex(tok, ":")+1:]} {
		if strings.Contains(log, secret) {
			t.Fatalf("log shows a secret: %q", log)
		}
	}
}

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

func TestBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"cert without key":     {TLSCert: "x.pem"},
		"plain with TLS fault": {Plain: true, Faults: []Fault{FaultExpiredServerCert}},
		"unknown fault":        {Faults: []Fault{"melt"}},
		"bad client auth":      {ClientAuth: "maybe"},
		"no mailboxes":         {Mailboxes: []Mailbox{}},
		"missing tls files":    {TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Listen = "127.0.0.1:0"
			if srv, err := Start(cfg); err == nil {
				srv.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
}

func TestOwnCertificates(t *testing.T) {
	// An organisation's own PKI: the sandbox serves its server certificate
	// and trusts only its client CA.
	own, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Own"})
	if err != nil {
		t.Fatal(err)
	}
	server, err := own.IssueServer(pki.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := own.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC1", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key, err := pki.EncodePrivateKeyPEM(server.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := startSandbox(t, Config{
		TLSCert:  write("server.pem", pki.EncodeCertificatesPEM(server.Cert, own.SubCA.Cert)),
		TLSKey:   write("server-key.pem", key),
		ClientCA: write("client-ca.pem", pki.EncodeCertificatesPEM(own.Root.Cert, own.SubCA.Cert)),
	})
	cert := client.TLSCertificate(own.SubCA.Cert)
	if _, err := tlsDial(t, srv, &tls.Config{RootCAs: own.Pool(), Certificates: []tls.Certificate{cert}}); err != nil {
		t.Fatalf("a client of the organisation's own CA: %v", err)
	}
	sandboxClient := srv.ClientTLSConfig()
	sandboxClient.RootCAs = own.Pool()
	if _, err := tlsDial(t, srv, sandboxClient); err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("the sandbox's own client certificate should now be refused, got %v", err)
	}
}
