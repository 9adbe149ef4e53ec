package checks_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// The speed target of `meshdoctor check` (issue 8): every check against the
// local sandbox in well under a second, and a verdict within 6 network
// round trips (DNS 1, TCP 1, TLS 2, the handshake request 1, one spare).
// On loopback a round trip costs nothing, so BenchmarkCheckRoundTrips puts a
// proxy in front of the sandbox that holds every chunk of bytes for a fixed
// one-way delay, and a name server that answers after a round trip, and
// divides the run's wall time by the round trip.

// oneWay is the delay the proxy adds in each direction: large against the
// run's own CPU time (a few milliseconds), small enough to keep `make bench`
// short.
const oneWay = 50 * time.Millisecond

func BenchmarkCheckSandbox(b *testing.B) {
	srv, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	target, err := mesh.LoadProfile(srv.Files().Profile)
	if err != nil {
		b.Fatal(err)
	}
	all := benchChecks(b)
	b.ResetTimer()
	for b.Loop() {
		runAll(b, target, nil, all)
	}
}

// BenchmarkCheckRoundTrips reaches the sandbox by a name, through a name
// server and a proxy that each take a round trip to answer, so every step
// of a real run is paid for: DNS, TCP, TLS and HTTP. The sandbox speaks TLS
// 1.3 (one round trip); Spine's servers may speak only TLS 1.2 (two), which
// a front of our own in place of the sandbox's TLS shows.
func BenchmarkCheckRoundTrips(b *testing.B) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"tls1.3", tls.VersionTLS13}, {"tls1.2", tls.VersionTLS12}} {
		b.Run(v.name, func(b *testing.B) {
			target, resolver, p := roundTripWorld(b, v.max)
			all := benchChecks(b)
			var last []checks.Result
			var lastTrace []flight
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				p.resetTrace()
				last = runAll(b, target, resolver, all)
				lastTrace = p.trace()
				n++
			}
			wall := time.Since(start)
			b.ReportMetric(float64(wall)/float64(n)/float64(2*oneWay), "round-trips")
			if testing.Verbose() {
				for _, r := range last {
					b.Logf("%-18s %-5s %4.1f round trips  %s", r.ID, r.Status, float64(r.Duration)/float64(2*oneWay), r.Summary)
				}
				for _, f := range lastTrace {
					b.Logf("at %4.1f round trips: %s %5d bytes in %d chunk(s) on connection %d", float64(f.at)/float64(2*oneWay), f.dir, f.bytes, f.chunks, f.conn)
				}
			}
		})
	}
}

// benchChecks is the catalogue but for geo.source-ip: it asks public
// services on the internet for this machine's address, which a benchmark
// must not, and it runs beside the MESH path rather than on it.
func benchChecks(b *testing.B) []checks.Check {
	all, err := checks.Select(nil, []string{"geo"})
	if err != nil {
		b.Fatal(err)
	}
	return all
}

// runAll runs every check and insists that none failed: a benchmark of a
// run that stopped early would measure the wrong thing. (target.eligibility
// skips: a URL-only target has no NHS catalogue entry to judge.)
func runAll(b *testing.B, target mesh.Target, resolver *net.Resolver, all []checks.Check) []checks.Result {
	opts := checks.Options{
		Timeout:  10 * time.Second,
		Deadline: 30 * time.Second,
		Resolver: resolver,
		Getenv:   func(string) string { return "" },
	}
	target.Proxy.Direct = true
	results := checks.Run(context.Background(), target, all, opts, nil)
	for _, r := range results {
		if r.Status == checks.Fail || r.Status == checks.Error {
			b.Fatalf("%s: %s: %s", r.ID, r.Status, r.Summary)
		}
	}
	return results
}

// benchHost is the name the sandbox is reached by through the proxy.
const benchHost = "mesh.bench.test"

// roundTripWorld is a sandbox reached as benchHost through a delaying
// proxy, with its name server, and a target for it. The certificates are
// the benchmark's own (the sandbox's name theirs). Up to TLS 1.3 the
// sandbox does mutual TLS itself; for an older maximum a plain sandbox sits
// behind a mutual-TLS front limited to it.
func roundTripWorld(b *testing.B, maxTLS uint16) (mesh.Target, *net.Resolver, *delayProxy) {
	b.Helper()
	dir := b.TempDir()
	ca, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	server, err := ca.IssueServer(pki.LeafOptions{CommonName: benchHost, DNSNames: []string{benchHost}})
	if err != nil {
		b.Fatal(err)
	}
	client, err := ca.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC1", "X26")})
	if err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{"ca.pem": pki.EncodeCertificatesPEM(ca.Root.Cert, ca.SubCA.Cert)}
	for name, kp := range map[string]pki.KeyPair{"server": server, "client": client} {
		key, err := pki.EncodePrivateKeyPEM(kp.Key)
		if err != nil {
			b.Fatal(err)
		}
		files[name+".pem"] = pki.EncodeCertificatesPEM(kp.Cert, ca.SubCA.Cert)
		files[name+"-key.pem"] = key
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	cfg := sandbox.Config{Listen: "127.0.0.1:0", TLSCert: path("server.pem"), TLSKey: path("server-key.pem"), ClientCA: path("ca.pem")}
	if maxTLS < tls.VersionTLS13 {
		cfg = sandbox.Config{Listen: "127.0.0.1:0", Plain: true}
	}
	srv, err := sandbox.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	upstream := srv.Addr().String()
	if cfg.Plain {
		upstream = startTLSFront(b, upstream, &tls.Config{
			Certificates: []tls.Certificate{server.TLSCertificate(ca.SubCA.Cert)},
			ClientCAs:    ca.Pool(),
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MaxVersion:   maxTLS,
			NextProtos:   []string{"http/1.1"},
		})
	}
	p := startDelayProxy(b, upstream, oneWay)
	_, port, err := net.SplitHostPort(p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	target := mesh.Target{
		URL:         "https://" + net.JoinHostPort(benchHost, port),
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: sandbox.DefaultPassword, SharedKey: sandbox.DefaultSharedKey},
		CertFile:    path("client.pem"),
		KeyFile:     path("client-key.pem"),
		CABundle:    path("ca.pem"),
	}
	return target, slowDNS(b, benchHost, 2*oneWay), p
}

// startTLSFront terminates TLS with cfg and passes the plain bytes to `to`,
// as a load balancer in front of MESH does.
func startTLSFront(b *testing.B, to string, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(up, c)
					up.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, up)
				c.Close()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// slowDNS is a resolver whose server answers host with 127.0.0.1 (A) and
// no AAAA (NODATA), each after delay: a recursive name server a round trip
// away.
func slowDNS(b testing.TB, host string, delay time.Duration) *net.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		time.Sleep(delay)
		m := new(dns.Msg)
		m.SetReply(q)
		// A recursive resolver's answer: without RA, Go's resolver takes an
		// empty answer for a lame referral and asks again.
		m.RecursionAvailable = true
		if len(q.Question) == 1 && q.Question[0].Name == dns.Fqdn(host) && q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: dns.Fqdn(host), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 1),
			})
		} else if q.Question[0].Name != dns.Fqdn(host) {
			m.SetRcode(q, dns.RcodeNameError)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	b.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// delayProxy forwards TCP connections to one address, holding every chunk
// of bytes read from either side for a fixed time before writing it on: a
// network path with that one-way latency and no bandwidth limit.
type delayProxy struct {
	ln    net.Listener
	to    string
	delay time.Duration

	mu      sync.Mutex
	started time.Time
	flights []flight
	conns   int
	// traced is the first connection of the run being traced: the end of
	// the previous run's connection is not part of it.
	traced int
	wg     sync.WaitGroup
}

// flight is a burst of bytes in one direction, after the other direction
// last spoke: a run takes at least one round trip per two flights.
type flight struct {
	at     time.Duration
	dir    string // "→" client to server, "←" server to client
	conn   int
	bytes  int
	chunks int
}

func startDelayProxy(tb testing.TB, to string, delay time.Duration) *delayProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &delayProxy{ln: ln, to: to, delay: delay, started: time.Now()}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns++
		id := p.conns
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c, id)
	}
}

func (p *delayProxy) forward(client net.Conn, id int) {
	defer p.wg.Done()
	defer client.Close()
	// On loopback the kernel completes the client's connect at once; a real
	// connect takes a round trip before the client can send. So the
	// client's first bytes are held as if sent a round trip after accept.
	connected := time.Now().Add(2 * p.delay)
	server, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer server.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client, "→", id, connected) }()
	go func() { defer wg.Done(); p.pipe(client, server, "←", id, time.Time{}) }()
	wg.Wait()
}

// pipe copies src to dst, each chunk written delay after it was read, or
// after notBefore when it was read earlier.
func (p *delayProxy) pipe(dst, src net.Conn, dir string, id int, notBefore time.Time) {
	type chunk struct {
		data []byte
		due  time.Time
	}
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.record(dir, id, n)
				sent := time.Now()
				if sent.Before(notBefore) {
					sent = notBefore
				}
				queue <- chunk{append([]byte(nil), buf[:n]...), sent.Add(p.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range queue {
		if failed {
			continue // drain, so the reader is never stuck
		}
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			src.Close()
		}
	}
	// Pass the end of the stream on, after its bytes.
	if tc, ok := dst.(*net.TCPConn); ok && !failed {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
}

func (p *delayProxy) record(dir string, conn, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if conn < p.traced {
		return
	}
	at := time.Since(p.started)
	if k := len(p.flights); k > 0 && p.flights[k-1].dir == dir && p.flights[k-1].conn == conn {
		p.flights[k-1].bytes += n
		p.flights[k-1].chunks++
		return
	}
	p.flights = append(p.flights, flight{at: at, dir: dir, conn: conn, bytes: n, chunks: 1})
}

func (p *delayProxy) resetTrace() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = time.Now()
	p.flights = nil
	p.traced = p.conns + 1
}

func (p *delayProxy) trace() []flight {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]flight(nil), p.flights...)
}

// The proxy itself must add its delay once per direction (and a round trip
// for the connect) and pass bytes through unchanged, or the benchmark's figure means nothing.
func TestDelayProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo
			}()
		}
	}()
	const d = 30 * time.Millisecond
	p := startDelayProxy(t, ln.Addr().String(), d)
	dialed := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.Repeat("meshdoctor", 1000)
	for round := range 3 {
		start := time.Now()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if round == 0 {
			took = time.Since(dialed) // the connect's round trip is charged from the dial
		}
		if string(got) != msg {
			t.Fatalf("round %d: the echo came back changed", round)
		}
		want := 2 * d
		if round == 0 {
			want += 2 * d // the connect's round trip, charged to the first bytes
		}
		// At least the delay, always; the upper bound only catches a
		// forwarder that adds far more (a loaded machine adds some).
		if took < want || took > want+time.Second {
			t.Fatalf("round %d: took %s, want about %s", round, took, want)
		}
	}
}
