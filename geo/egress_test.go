package geo_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
)

func TestDiscover(t *testing.T) {
	gb, tlsGB := geotest.EchoService(t, "81.2.69.142")
	jsonSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ip":"81.2.69.142"}`)
	}))
	defer jsonSrv.Close()
	tlsGB.RootCAs.AddCert(jsonSrv.Certificate())
	fr, tlsFR := geotest.EchoService(t, "90.0.1.3")
	bad, tlsBad := geotest.EchoService(t, "<html>blocked by policy</html>")
	agreeing := geotest.DNSServer(t, "81.2.69.142", "81.2.69.142")
	disagreeing := geotest.DNSServer(t, "90.0.1.3", "81.2.69.142")

	tests := []struct {
		name     string
		d        geo.Discoverer
		v4       string
		disagree bool
		why      string
	}{
		{"one service", geo.Discoverer{Services: []string{gb}, TLS: tlsGB}, "81.2.69.142", false, ""},
		{"JSON answer", geo.Discoverer{Services: []string{jsonSrv.URL}, TLS: tlsGB}, "81.2.69.142", false, ""},
		{"service and DNS agree", geo.Discoverer{Services: []string{gb}, TLS: tlsGB, DNS: geotest.DNSMethods(agreeing)}, "81.2.69.142", false, ""},
		{"DNS only", geo.Discoverer{DNS: geotest.DNSMethods(agreeing)}, "81.2.69.142", false, ""},
		{"DNS methods disagree", geo.Discoverer{DNS: geotest.DNSMethods(disagreeing)}, "90.0.1.3", true, ""},
		{"service most trusted", geo.Discoverer{Services: []string{fr}, TLS: tlsFR, DNS: geotest.DNSMethods(agreeing)}, "90.0.1.3", true, ""},
		{"garbage answer", geo.Discoverer{Services: []string{bad}, TLS: tlsBad}, "", false, "not an IP address"},
		{"untrusted certificate", geo.Discoverer{Services: []string{gb}}, "", false, "certificate"},
		{"nothing configured", geo.Discoverer{}, "", false, "no method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e := geo.Consolidate(tt.d.Discover(ctx))
			if got := addrString(e.V4); got != tt.v4 || e.Disagree != tt.disagree {
				t.Fatalf("v4 %s disagree %v, want %s %v; answers %+v", got, e.Disagree, tt.v4, tt.disagree, e.Answers)
			}
			if tt.why != "" && !strings.Contains(e.Why(), tt.why) {
				t.Errorf("why %q lacks %q", e.Why(), tt.why)
			}
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func TestDiscoverThroughProxy(t *testing.T) {
	service, tlsCfg := geotest.EchoService(t, "81.2.69.142")
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		tunnels.Add(1)
		w.WriteHeader(http.StatusOK)
		conn, rw, _ := w.(http.Hijacker).Hijack()
		go func() { io.Copy(up, rw); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	d := geo.Discoverer{Services: []string{service}, TLS: tlsCfg, Proxy: http.ProxyURL(pu)}
	e := geo.Consolidate(d.Discover(context.Background()))
	if e.V4.String() != "81.2.69.142" || tunnels.Load() != 1 {
		t.Fatalf("v4 %s through %d tunnels; answers %+v", e.V4, tunnels.Load(), e.Answers)
	}
}

func TestDiscoverBoundedByContext(t *testing.T) {
	// A DNS server that never answers and a service that never answers:
	// Discover returns when the context ends, not later.
	pc := geotest.ListenUDP(t, "udp", "127.0.0.1:0")
	defer pc.Close()
	stall := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stall)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	d := geo.Discoverer{Services: []string{srv.URL}, TLS: &tls.Config{RootCAs: pool}, DNS: geotest.DNSMethods(pc.LocalAddr().String()), Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	e := geo.Consolidate(d.Discover(ctx))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
	if len(e.Addrs()) != 0 || e.Why() == "" {
		t.Fatalf("addrs %v why %q", e.Addrs(), e.Why())
	}
}

func TestScope(t *testing.T) {
	for ip, want := range map[string]geo.Scope{
		"81.2.69.142": geo.Public, "10.1.2.3": geo.Private, "192.168.0.1": geo.Private, "172.16.5.4": geo.Private,
		"100.64.1.1": geo.CGNAT, "127.0.0.1": geo.Loopback, "::1": geo.Loopback, "fd00::1": geo.Private,
		"169.254.1.1": geo.LinkLocal, "0.0.0.0": geo.Unspecified, "224.0.0.1": geo.Multicast,
		"192.0.2.7": geo.Reserved, "2a02:8010::1": geo.Public, "::ffff:10.0.0.1": geo.Private,
	} {
		if got := geo.ScopeOf(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"81.2.69.142": "", " 81.2.69.142 ": "", "[2a02:8010::1]": "", "::ffff:81.2.69.142": "",
		"81.2.69": "not an IP address", "example.com": "not an IP address", "": "not an IP address",
		"81.2.69.0/24": "is a network", "fe80::1%eth0": "zone",
	} {
		a, err := geo.ParseAddr(in)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", in, err)
		case want == "" && a.Is4In6():
			t.Errorf("%q: left mapped: %s", in, a)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestLocalSource(t *testing.T) {
	got, err := geo.LocalSource(context.Background(), nil, "127.0.0.1", 443)
	geotest.SkipUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].IsLoopback() {
		t.Fatalf("local source toward loopback: %v", got)
	}
}

func TestDiscoverIPv6(t *testing.T) {
	server, ok := geotest.DNSServer6(t, "2a02:8010::1", "2a02:8010::1")
	if !ok {
		t.Skip("no IPv6 loopback on this machine")
	}
	d := geo.Discoverer{DNS: []geo.DNSMethod{
		{Name: "OpenDNS", Question: "myip.opendns.com.", Type: dns.TypeAAAA, Server: server, Net: "udp6"},
		{Name: "Google", Question: "o-o.myaddr.l.google.com.", Type: dns.TypeTXT, Server: server, Net: "udp6"},
	}}
	e := geo.Consolidate(d.Discover(context.Background()))
	if e.V6.String() != "2a02:8010::1" || e.V4.IsValid() || e.Disagree || e.Answers[0].Method != "DNS OpenDNS (IPv6)" {
		t.Fatalf("%+v", e)
	}
}

func TestDefaults(t *testing.T) {
	// The built-in lists are what users get with no configuration: each
	// service an https URL, each DNS method one family, both families asked.
	if got, err := geo.ParseServices(strings.Join(geo.DefaultServices(), ",")); err != nil || len(got) != len(geo.DefaultServices()) {
		t.Fatalf("default services %v: %v", got, err)
	}
	fams := map[string]int{}
	for _, m := range geo.DefaultDNSMethods() {
		if (m.Net != "udp4" && m.Net != "udp6") || !strings.HasSuffix(m.Question, ".") || !strings.HasSuffix(m.Server, ":53") {
			t.Errorf("method %+v", m)
		}
		fams[m.Net]++
	}
	if fams["udp4"] == 0 || fams["udp6"] == 0 {
		t.Errorf("families %v", fams)
	}
}
