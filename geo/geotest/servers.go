package geotest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/miekg/dns"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/internal/sockerr"
)

// EchoService starts a local HTTPS what-is-my-IP service that answers with
// answer (the caller's own address, a loopback one, when empty). It returns
// the service URL and a TLS configuration that trusts it.
func EchoService(t testing.TB, answer string) (string, *tls.Config) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer
		if a == "" {
			a, _, _ = net.SplitHostPort(r.RemoteAddr)
		}
		io.WriteString(w, a+"\n")
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.URL, &tls.Config{RootCAs: pool}
}

// DNSServer starts a local DNS server on 127.0.0.1 that answers A questions
// with a4 (NXDOMAIN when empty) and TXT questions with txt, after a decoy
// record that is not an address (as Google's answer has). It returns its
// host:port.
func DNSServer(t testing.TB, a4, txt string) string {
	t.Helper()
	return serveDNS(t, ListenUDP(t, "udp4", "127.0.0.1:0"), a4, "", txt)
}

// DNSServer6 is DNSServer on [::1], answering AAAA questions with a6; ok is
// false where this machine has no IPv6 loopback.
func DNSServer6(t testing.TB, a6, txt string) (addr string, ok bool) {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return "", false
	}
	return serveDNS(t, pc, "", a6, txt), true
}

func serveDNS(t testing.TB, pc net.PacketConn, a4, a6, txt string) string {
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET}
		}
		switch q.Question[0].Qtype {
		case dns.TypeA:
			if a4 == "" {
				m.Rcode = dns.RcodeNameError
				break
			}
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a4)})
		case dns.TypeAAAA:
			if a6 == "" {
				m.Rcode = dns.RcodeNameError
				break
			}
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(a6)})
		case dns.TypeTXT:
			m.Answer = append(m.Answer,
				&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{"edns0-client-subnet 192.0.2.0/24"}},
				&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{txt}})
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// DNSMethods are OpenDNS- and Google-style methods asked of server.
func DNSMethods(server string) []geo.DNSMethod {
	return []geo.DNSMethod{
		{Name: "OpenDNS", Question: "myip.opendns.com.", Type: dns.TypeA, Server: server, Net: "udp4"},
		{Name: "Google", Question: "o-o.myaddr.l.google.com.", Type: dns.TypeTXT, Server: server, Net: "udp4"},
	}
}

// Resolver resolves every name through the DNS server at server, so that
// a test resolves nothing outside the machine.
func Resolver(server string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// ListenUDP listens on a UDP address for a test, which is skipped where this
// platform cannot make UDP sockets at all (Wine 8.0 refuses the
// SIO_UDP_CONNRESET option Go sets on every one).
func ListenUDP(t testing.TB, network, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	SkipUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// SkipUnsupported skips the test when err says this platform does not
// support the socket operation (see ListenUDP).
func SkipUnsupported(t testing.TB, err error) {
	t.Helper()
	if sockerr.Unsupported(err) {
		t.Skipf("UDP sockets not supported on this platform: %v", err)
	}
}
