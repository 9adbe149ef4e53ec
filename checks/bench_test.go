package checks_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// The speed target of `meshdoctor check` (issue 8): every check against the
// local sandbox in well under a second, and a verdict within 6 network
// round trips (DNS 1, TCP 1, TLS 2, the handshake request 1, one spare).
// On loopback a round trip costs nothing, so BenchmarkCheckRoundTrips puts a
// proxy in front of the sandbox that holds every chunk of bytes for a fixed
// one-way delay and divides the run's wall time by the round trip it makes.

// oneWay is the delay the proxy adds in each direction: large against the
// run's own CPU time (a few milliseconds), small enough to keep `make bench`
// short.
const oneWay = 50 * time.Millisecond

func BenchmarkCheckSandbox(b *testing.B) {
	target := benchTarget(b, nil)
	all := checks.Catalogue()
	b.ResetTimer()
	for b.Loop() {
		runAll(b, target, all)
	}
}

func BenchmarkCheckRoundTrips(b *testing.B) {
	var p *delayProxy
	target := benchTarget(b, func(sandboxAddr string) string {
		p = startDelayProxy(b, sandboxAddr, oneWay)
		return p.Addr()
	})
	all := checks.Catalogue()
	var last []checks.Result
	var lastTrace []flight
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		p.resetTrace()
		last = runAll(b, target, all)
		lastTrace = p.trace()
		n++
	}
	wall := time.Since(start)
	b.ReportMetric(float64(wall)/float64(n)/float64(2*oneWay), "round-trips")
	b.ReportMetric(float64(len(lastTrace)), "flights")
	if testing.Verbose() {
		for _, r := range last {
			b.Logf("%-18s %-5s %6.1f round trips  %s", r.ID, r.Status, float64(r.Duration)/float64(2*oneWay), r.Summary)
		}
		for _, f := range lastTrace {
			b.Logf("flight at %5.1f round trips: %s %d bytes in %d chunk(s), conn %d", float64(f.at)/float64(2*oneWay), f.dir, f.bytes, f.chunks, f.conn)
		}
	}
}

// runAll runs every check and insists that none failed: a benchmark of a
// run that stopped early would measure the wrong thing. (target.eligibility
// skips: a URL-only target has no NHS catalogue entry to judge.)
func runAll(b *testing.B, target mesh.Target, all []checks.Check) []checks.Result {
	opts := checks.Options{
		Timeout:  10 * time.Second,
		Proxy:    func(*http.Request) (*url.URL, error) { return nil, nil },
		Getenv:   func(string) string { return "" },
		Deadline: 30 * time.Second,
	}
	results := checks.Run(context.Background(), target, all, opts, nil)
	for _, r := range results {
		if r.Status == checks.Fail || r.Status == checks.Error {
			b.Fatalf("%s: %s: %s", r.ID, r.Status, r.Summary)
		}
	}
	return results
}

// benchTarget starts a sandbox and returns its profile as a target; front,
// when given, puts something in front of the sandbox's address and returns
// the address to use instead.
func benchTarget(b *testing.B, front func(sandboxAddr string) string) mesh.Target {
	b.Helper()
	srv, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	target, err := mesh.LoadProfile(srv.Files().Profile)
	if err != nil {
		b.Fatal(err)
	}
	if front != nil {
		// The sandbox's certificate names 127.0.0.1, so the proxy's address
		// verifies as the sandbox's own would.
		u, err := url.Parse(target.URL)
		if err != nil {
			b.Fatal(err)
		}
		u.Host = front(srv.Addr().String())
		target.URL = u.String()
	}
	return target
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
		if string(got) != msg {
			t.Fatalf("round %d: the echo came back changed", round)
		}
		want := 2 * d
		if round == 0 {
			want += 2 * d // the connect's round trip, charged to the first bytes
		}
		if took < want || took > want+d {
			t.Fatalf("round %d: took %s, want about %s", round, took, want)
		}
	}
}
