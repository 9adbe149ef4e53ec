package checks

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshdoctor/meshdoctor/geo/geotest"
	"github.com/meshdoctor/meshdoctor/internal/proxytest"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// connectionChecks are the checks a corporate network can break, and the
// ones that depend on them.
var connectionChecks = []string{"tcp.connect", "tls.server", "tls.client-auth", "mesh.handshake"}

// TestCorporateNetworks puts a trust's network between meshdoctor and a
// sandbox: proxies that authenticate in each way, refuse, or inspect TLS,
// and firewalls that reset or stall the handshake. Each time the right
// check fails with the cause and its fix, and no other check gives a
// second cause (the dependents are skipped, naming the first).
func TestCorporateNetworks(t *testing.T) {
	srv, target := sandboxTarget(t, sandbox.Config{})
	inspector, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Zscaler Intermediate", KeyBits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's CAs plus the inspection CA: what a user who followed
	// "add the issuer to your bundle" would have.
	both := filepath.Join(t.TempDir(), "with-inspection-ca.pem")
	bundle, _ := os.ReadFile(srv.Files().CABundle)
	if err := os.WriteFile(both, append(bundle, pki.EncodeCertificatesPEM(inspector.Chain()...)...), 0o600); err != nil {
		t.Fatal(err)
	}
	via := func(cfg proxytest.Config, user, password string) mesh.Target {
		p := proxytest.Start(t, cfg)
		tg := target
		tg.Proxy = mesh.ProxySettings{URL: "http://" + p.Addr, User: user, Password: password}
		return tg
	}
	withBundle := func(tg mesh.Target, path string) mesh.Target { tg.CABundle = path; return tg }
	basic := proxytest.Config{Schemes: []string{"Basic"}, User: "alice", Password: "s3cret/#?@:%"}
	ntlm := proxytest.Config{Schemes: []string{"NTLM", "Negotiate"}, User: `TRUST\alice`}
	negotiate := proxytest.Config{Schemes: []string{"Negotiate"}}
	intercept := proxytest.Config{Intercept: inspector}
	seen := make(chan string, 1)
	reset := proxytest.ResetAfterClientHello(t, seen)
	stall := proxytest.StallHandshake(t)
	// A server of our own for localhost, trusted through its own bundle.
	own, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Test Server"})
	if err != nil {
		t.Fatal(err)
	}
	ownKP, err := own.IssueServer(pki.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	ownBundle := filepath.Join(t.TempDir(), "own.pem")
	if err := os.WriteFile(ownBundle, pki.EncodeCertificatesPEM(own.Chain()...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, lateStallPort, _ := net.SplitHostPort(proxytest.StallAfterClientCertificate(t, ownKP.TLSCertificate(own.SubCA.Cert)))
	_, resetPort, _ := net.SplitHostPort(reset)
	_, stallPort, _ := net.SplitHostPort(stall)
	direct := mesh.ProxySettings{Direct: true}
	plain := proxytest.Start(t, proxytest.Config{})
	tlsToPlain := target
	tlsToPlain.Proxy = mesh.ProxySettings{URL: "https://" + plain.Addr}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := ln.Addr().String()
	ln.Close()
	dead := withProxy(target, "http://"+deadPort)

	for _, tt := range []struct {
		name     string
		target   mesh.Target
		timeout  time.Duration
		passes   []string
		fails    string
		words    []string
		evidence map[string]string
	}{
		{name: "Basic proxy, right credentials", target: via(basic, "alice", basic.Password),
			passes: connectionChecks, evidence: map[string]string{"authenticated with": "Basic as alice", "proxy offers": "Basic"}},
		{name: "Basic proxy, credentials refused", target: via(basic, "alice", "wrong/#pw"),
			fails: "tcp.connect", words: []string{"the proxy refused the credentials for user alice", "407", "MESH_PROXY_PASSWORD"},
			evidence: map[string]string{"credentials tried": "Basic as alice", "authenticated with": ""}},
		{name: "Basic proxy refusing credentials with 401 (tinyproxy)", target: via(proxytest.Config{Schemes: []string{"Basic"}, User: "alice", Password: "right", RefuseBasicWith: 401}, "alice", "wrong/#pw"),
			fails: "tcp.connect", words: []string{"the proxy refused the credentials for user alice", "401"}},
		{name: "Basic proxy, a password but no user", target: via(basic, "", basic.Password),
			fails: "tcp.connect", words: []string{"a proxy password is set, but no user name", "MESH_PROXY_USER", "proxy_user"}},
		{name: "Basic proxy, a user but no password", target: via(basic, "alice", ""),
			fails: "tcp.connect", words: []string{"the user alice is given, but no password", "MESH_PROXY_PASSWORD", "secrets.proxy_password"}},
		{name: "NTLM proxy, a user but no password", target: via(ntlm, `TRUST\alice`, ""),
			fails: "tcp.connect", words: []string{`the user TRUST\alice is given, but no password`, "MESH_PROXY_PASSWORD"}},
		{name: "Basic proxy, no credentials", target: via(basic, "", ""),
			fails: "tcp.connect", words: []string{"wants authentication", "Basic", "MESH_PROXY_USER"}},
		{name: "NTLM proxy, no credentials", target: via(ntlm, "", ""),
			fails: "tcp.connect", words: []string{"NTLM, Negotiate", "Windows sign-in", "exempt", "MESH_PROXY_USER"}},
		{name: "NTLM proxy, an account it knows", target: via(ntlm, `TRUST\alice`, "pw"),
			passes: connectionChecks, evidence: map[string]string{"authenticated with": `NTLM as TRUST\alice`}},
		{name: "NTLM proxy, an account it refuses", target: via(ntlm, "bob", "pw"),
			fails: "tcp.connect", words: []string{"refused the credentials for user bob", "NTLM", `DOMAIN\bob`}},
		{name: "Negotiate-only proxy", target: via(negotiate, "alice", "pw"),
			fails: "tcp.connect", words: []string{"only Negotiate", "exempt", "allow-listed"}},
		{name: "Negotiate-only proxy that takes NTLM in it", target: via(proxytest.Config{Schemes: []string{"Negotiate"}, NTLMInNegotiate: true, User: "alice"}, "alice", "pw"),
			passes: connectionChecks, evidence: map[string]string{"authenticated with": "Negotiate as alice"}},
		{name: "Negotiate-only proxy, no credentials", target: via(negotiate, "", ""),
			fails: "tcp.connect", words: []string{"Kerberos", "exempt"}},
		{name: "policy refuses", target: via(proxytest.Config{Status: 403, Body: "<html><title>Blocked by policy</title></html>"}, "", ""),
			fails: "tcp.connect", words: []string{"403", "policy"}, evidence: map[string]string{"proxy page": "Blocked by policy"}},
		{name: "proxy cannot forward (Squid's 500)", target: via(proxytest.Config{Status: 500, Header: "X-Squid-Error: ERR_CANNOT_FORWARD 0\r\n", Server: "squid/5.7"}, "", ""),
			fails: "tcp.connect", words: []string{"500", "could not reach", "allow the proxy out"}, evidence: map[string]string{"proxy error": "ERR_CANNOT_FORWARD"}},
		{name: "proxy cannot resolve MESH", target: via(proxytest.Config{Status: 503, Header: "X-Squid-Error: ERR_DNS_FAIL 0\r\n", Server: "squid/5.7"}, "", ""),
			fails: "tcp.connect", words: []string{"503", "cannot resolve", "DNS"}, evidence: map[string]string{"proxy error": "ERR_DNS_FAIL"}},
		{name: "not a proxy at the proxy's address", target: withProxy(target, "http://"+proxytest.Serve(t, func(c net.Conn) { c.Read(make([]byte, 512)); c.Close() })),
			fails: "tcp.connect", words: []string{"did not answer CONNECT as an HTTP proxy does", "names an HTTP proxy"}},
		{name: "https:// proxy whose certificate this machine does not trust", target: withProxy(target, "https://"+strings.Replace(proxytest.Serve(t, func(c net.Conn) {
			tls.Server(c, &tls.Config{Certificates: []tls.Certificate{ownKP.TLSCertificate(own.SubCA.Cert)}}).Handshake()
			c.Close()
		}), "127.0.0.1", "localhost", 1)),
			fails: "tcp.connect", words: []string{"does not trust the certificate of the proxy", "Test Server", "SSL_CERT_FILE"}},
		{name: "https:// given for a plain proxy", target: tlsToPlain,
			fails: "tcp.connect", words: []string{"speaks plain HTTP", "https://", "Use http://"}},
		{name: "nothing listens at the proxy's port", target: dead,
			fails: "tcp.connect", words: []string{"cannot be reached", "connection refused", "--proxy"}},
		{name: "SSL inspection", target: via(intercept, "", ""),
			fails: "tls.server", words: []string{"intercepted (SSL inspection)", "Zscaler Intermediate", "Mutual TLS cannot pass", "exempt", "Do not add the inspection CA"},
			evidence: map[string]string{"signs of inspection": "did not ask for a client certificate", "inspecting CA": "Zscaler"}},
		{name: "SSL inspection, its CA added to the bundle", target: withBundle(via(intercept, "", ""), both),
			fails: "tls.server", words: []string{"intercepted (SSL inspection)", "exempt"}},
		{name: "firewall resets after the ClientHello", target: mesh.Target{URL: "https://localhost:" + resetPort, Proxy: direct, CABundle: srv.Files().CABundle},
			fails: "tls.server", words: []string{"right after our ClientHello", "localhost (SNI)", "filtering on the server name", "allow TLS"},
			evidence: map[string]string{"server name the firewall saw": "localhost"}},
		{name: "handshake stalls", target: mesh.Target{URL: "https://localhost:" + stallPort, Proxy: direct, CABundle: srv.Files().CABundle}, timeout: time.Second,
			fails: "tls.server", words: []string{"stalled", "ClientHello went out", "MTU", "network team"},
			evidence: map[string]string{"stalled at": "server's first flight"}},
		{name: "handshake stalls after our certificate", target: mesh.Target{URL: "https://localhost:" + lateStallPort, Proxy: direct, CABundle: ownBundle, Keystore: target.Keystore, KeystorePassword: target.KeystorePassword}, timeout: time.Second,
			fails: "tls.server", words: []string{"stalled", "the server's certificate came", "network team"},
			evidence: map[string]string{"stalled at": "after we sent our client certificate"}},
		{name: "proxy never answers CONNECT", target: via(proxytest.Config{Silent: true}, "", ""), timeout: time.Second,
			fails: "tcp.connect", words: []string{"did not answer CONNECT", "allow the proxy out"},
			evidence: map[string]string{"attempts": "connected; no answer to CONNECT after"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tg := tt.target
			tg.Credentials = target.Credentials
			opts := Options{Timeout: 3 * time.Second}
			if tt.timeout != 0 {
				opts.Timeout = tt.timeout
			}
			start := time.Now()
			res := runAtWith(t, tg, opts, connectionChecks...)
			if took := time.Since(start); took > 3*opts.Timeout {
				t.Errorf("took %s: a stalled step must end within the check's own timeout", took)
			}
			for _, id := range tt.passes {
				if res[id].Status != Pass {
					t.Errorf("%s: %s %q", id, res[id].Status, res[id].Summary)
				}
			}
			if tt.fails != "" {
				expect(t, res, tt.fails, Fail, tt.words...)
				for _, id := range connectionChecks {
					if r := res[id]; id != tt.fails && (r.Status == Fail || r.Status == Error || r.Status == Warn) {
						t.Errorf("%s gives a second cause: %s %q", id, r.Status, r.Summary)
					}
				}
			}
			for k, want := range tt.evidence {
				id := firstNonEmpty(tt.fails, "tcp.connect")
				got, ok := res[id].Evidence.Get(k)
				if want == "" { // the evidence must not be there
					if ok {
						t.Errorf("%s evidence %q = %q, want none", id, k, got)
					}
					continue
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s evidence %q = %q, want %q", id, k, got, want)
				}
			}
			for _, r := range res {
				if ev, _ := r.Evidence.MarshalJSON(); strings.Contains(r.Summary+r.Remediation+string(ev), basic.Password) {
					t.Errorf("%s shows the proxy password", r.ID)
				}
			}
		})
	}
	select {
	case name := <-seen:
		if name != "localhost" {
			t.Errorf("the firewall saw the server name %q, want localhost", name)
		}
	default:
		t.Error("the firewall double saw no ClientHello")
	}
}

func runAtWith(t *testing.T, target mesh.Target, opts Options, only ...string) map[string]Result {
	t.Helper()
	cs, err := Select(only, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range Run(t.Context(), target, cs, opts, nil) {
		out[r.ID] = r
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// answerDNS answers A questions for host with 127.0.0.1 (none when host is
// ""), and every other question with NXDOMAIN, on loopback.
func answerDNS(t *testing.T, host string) *net.Resolver {
	t.Helper()
	pc := geotest.ListenUDP(t, "udp", "127.0.0.1:0")
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if qq := q.Question[0]; host != "" && qq.Qtype == dns.TypeA && strings.EqualFold(qq.Name, dns.Fqdn(host)) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("127.0.0.1")}}
		} else if host == "" || qq.Qtype != dns.TypeAAAA || !strings.EqualFold(qq.Name, dns.Fqdn(host)) {
			m.SetRcode(q, dns.RcodeNameError)
		}
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

// TestInspectionWithoutAProxy: a firewall that decrypts TLS transparently
// (no proxy configured) on MESH's own host name is named as inspection.
func TestInspectionWithoutAProxy(t *testing.T) {
	const host = "msg.intspineservices.nhs.uk"
	fw, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Fortinet FortiGate"})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := fw.IssueServer(pki.LeafOptions{CommonName: host, DNSNames: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	cert := kp.TLSCertificate(fw.SubCA.Cert)
	addr := proxytest.Serve(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.Handshake()
		io.Copy(io.Discard, tc)
	})
	_, port, _ := net.SplitHostPort(addr)
	target := mesh.Target{URL: "https://" + host + ":" + port, Environment: mesh.Integration, Proxy: mesh.ProxySettings{Direct: true}}
	res := runAt(t, target, Options{Resolver: answerDNS(t, host)}, "tls.server")
	expect(t, res, "tls.server", Fail, "intercepted (SSL inspection)", "Fortinet", "exempt msg.intspineservices.nhs.uk:"+port)
	if s, _ := res["tls.server"].Evidence.Get("signs of inspection"); !strings.Contains(s, "not issued by an NHS (Spine) CA") || !strings.Contains(s, "inspection product") {
		t.Errorf("signs of inspection: %q", s)
	}
}

// TestNoProxyBypassIsNamed: where NO_PROXY sends MESH direct and only the
// proxy could reach it, the bypass is named as the cause; a proxy variable
// that cannot be read is named where the name does not resolve.
func TestNoProxyBypassIsNamed(t *testing.T) {
	r := fakeDNS(t)
	env := func(m map[string]string) mesh.ProxySettings {
		return mesh.ProxySettings{Env: mesh.ReadProxyEnv(func(k string) string { return m[k] })}
	}
	for _, tt := range []struct {
		proxy mesh.ProxySettings
		words []string
	}{
		{env(map[string]string{"HTTPS_PROXY": "http://proxy.trust:3128", "NO_PROXY": "localhost,.nhs.uk"}), []string{`NO_PROXY's entry ".nhs.uk" matches`, `Remove ".nhs.uk" from NO_PROXY`}},
		{env(map[string]string{"https_proxy": "http://alice:pa/ss@proxy.trust:3128"}), []string{"https_proxy", "percent-encode"}},
	} {
		target := mesh.Target{Environment: mesh.Integration, Proxy: tt.proxy}
		res := runAt(t, target, Options{Resolver: r}, "dns.resolve")
		expect(t, res, "dns.resolve", Fail, tt.words...)
	}
	// The variables' facts are in tcp.connect's evidence.
	_, target := sandboxTarget(t, sandbox.Config{})
	target.Proxy = env(map[string]string{"HTTP_PROXY": "http://proxy.trust:3128"})
	res := runAt(t, target, Options{}, "tcp.connect")
	if n, _ := res["tcp.connect"].Evidence.Get("proxy variables"); !strings.Contains(n, "only for http:// URLs") {
		t.Errorf("HTTP_PROXY alone is not explained: %q", n)
	}
	if route, _ := res["tcp.connect"].Evidence.Get("route"); !strings.HasPrefix(route, "direct") {
		t.Errorf("route %q", route)
	}
}

// TestUnknownNHSNamedCAOnMESHHostWarns: a certificate on MESH's host that
// the bundle trusts, from a CA calling itself NHS's but not a Spine CA
// meshdoctor knows, is never passed without saying so.
func TestUnknownNHSNamedCAOnMESHHostWarns(t *testing.T) {
	const host = "msg.intspineservices.nhs.uk"
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "NHS Future"})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := h.IssueServer(pki.LeafOptions{CommonName: host, DNSNames: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	cert := kp.TLSCertificate(h.SubCA.Cert)
	addr := proxytest.Serve(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
		tc.Handshake()
		io.Copy(io.Discard, tc)
	})
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, pki.EncodeCertificatesPEM(h.Chain()...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	target := mesh.Target{URL: "https://" + host + ":" + port, CABundle: bundle, Proxy: mesh.ProxySettings{Direct: true}}
	res := runAt(t, target, Options{Resolver: answerDNS(t, host)}, "tls.server")
	expect(t, res, "tls.server", Warn, "not an NHS Spine CA meshdoctor knows", "SSL inspection", "exempt")
}

func withProxy(t mesh.Target, url string) mesh.Target {
	t.Proxy = mesh.ProxySettings{URL: url}
	return t
}
