// Command benchrun measures the sandbox the way the README's figures are
// defined: the real meshdoctor binary serving mutual TLS on loopback, and a
// load generator (mesh.Client) in this process on the same machine.
//
//	go run ./internal/benchrun -bin ./bin/meshdoctor
//
// It prints handshakes per second and send→download→acknowledge cycles per
// second at concurrency 8 (in-memory store), then a 1 GiB message in 20 MiB
// chunks up and down with --data-dir, in MiB/s, and the sandbox's peak RSS.
// First, the exporter: a thousand mailboxes on one sandbox, each probed once
// with the check module through one exporter: wall time, probes per second,
// the exporter's peak RSS and the TLS connections the sandbox saw
// (-only exporter runs just that).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

func main() {
	bin := flag.String("bin", "./bin/meshdoctor", "meshdoctor binary to benchmark")
	concurrency := flag.Int("c", 8, "concurrent clients")
	duration := flag.Duration("d", 5*time.Second, "how long each rate is measured")
	bigSize := flag.Int64("big", 1<<30, "size of the large message in bytes")
	chunk := flag.Int64("chunk", 20<<20, "chunk size of the large message")
	only := flag.String("only", "", "run only one part: sandbox or exporter")
	targets := flag.Int("exporter-targets", 1000, "mailboxes the exporter probes")
	scrapers := flag.Int("exporter-scrapers", 32, "concurrent scrapes of the exporter")
	flag.Parse()
	if *only != "" && *only != "sandbox" && *only != "exporter" {
		fmt.Fprintf(os.Stderr, "benchrun: -only %q: want sandbox or exporter\n", *only)
		os.Exit(2)
	}
	if err := run(*bin, *only, *concurrency, *duration, *bigSize, *chunk, *targets, *scrapers); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

type figure struct {
	name, unit  string
	value       float64
	target      float64
	lowerBetter bool
	// atMost: the target is a ceiling the value may reach.
	atMost bool
}

func run(bin, only string, concurrency int, d time.Duration, bigSize, chunk int64, targets, scrapers int) error {
	tmp, err := os.MkdirTemp("", "meshdoctor-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var figures []figure
	if only == "" || only == "exporter" {
		ex, err := exporterBench(bin, tmp, targets, scrapers)
		if err != nil {
			return fmt.Errorf("exporter: %w", err)
		}
		figures = append(figures, ex...)
	}
	if only == "exporter" {
		printFigures(figures)
		return nil
	}

	// Rates, in-memory store.
	sb, err := startSandbox(bin, filepath.Join(tmp, "pki"), "")
	if err != nil {
		return err
	}
	client, err := sb.client(chunk)
	if err != nil {
		sb.stop()
		return err
	}
	hs, err := rate(concurrency, d, func(ctx context.Context) error { return client.Handshake(ctx) })
	if err != nil {
		sb.stop()
		return fmt.Errorf("handshakes: %w", err)
	}
	figures = append(figures, figure{name: fmt.Sprintf("handshakes/s, concurrency %d", concurrency), unit: "/s", value: hs, target: 9000})
	// For scale, not a target: the same with a new mutual-TLS connection
	// (RSA-2048 on both sides) for every request.
	fresh, err := sb.freshConnectionClient()
	if err != nil {
		sb.stop()
		return err
	}
	hsNew, err := rate(concurrency, d, func(ctx context.Context) error { return fresh.Handshake(ctx) })
	if err != nil {
		sb.stop()
		return fmt.Errorf("handshakes on new connections: %w", err)
	}
	figures = append(figures, figure{name: fmt.Sprintf("  the same, new TLS connection each, concurrency %d", concurrency), unit: "/s", value: hsNew})
	payload := strings.Repeat("meshdoctor benchmark line\n", 40) // ~1 KiB
	cycles, err := rate(concurrency, d, func(ctx context.Context) error {
		id, err := client.Send(ctx, mesh.Message{To: sb.profile.Mailbox, WorkflowID: sb.profile.Workflow}, strings.NewReader(payload), int64(len(payload)))
		if err != nil {
			return err
		}
		if _, err := client.Download(ctx, id, io.Discard); err != nil {
			return err
		}
		return client.Acknowledge(ctx, id)
	})
	sb.stop()
	if err != nil {
		return fmt.Errorf("cycles: %w", err)
	}
	figures = append(figures, figure{name: fmt.Sprintf("send→download→ack cycles/s, concurrency %d", concurrency), unit: "/s", value: cycles, target: 1400})

	// One large message through the file store.
	sb, err = startSandbox(bin, filepath.Join(tmp, "pki"), filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer sb.stop()
	client, err = sb.client(chunk)
	if err != nil {
		return err
	}
	// The first pass is a warm-up: on a fresh virtual machine the first
	// touch of each page of memory (the page cache the file store writes
	// into) costs more than the transfer itself. Both passes are printed.
	var up, down [2]time.Duration
	for pass := range 2 {
		if up[pass], down[pass], err = bigTransfer(client, sb.profile, bigSize); err != nil {
			return err
		}
	}
	rss, err := peakRSS(sb.cmd.Process.Pid)
	if err != nil {
		return err
	}
	mib := float64(bigSize) / (1 << 20)
	figures = append(figures,
		figure{name: fmt.Sprintf("%.0f MiB in %d MiB chunks, upload, --data-dir", mib, chunk>>20), unit: "MiB/s", value: mib / up[1].Seconds(), target: 600},
		figure{name: fmt.Sprintf("%.0f MiB in %d MiB chunks, download, --data-dir", mib, chunk>>20), unit: "MiB/s", value: mib / down[1].Seconds(), target: 600},
		figure{name: "sandbox peak RSS", unit: "MiB", value: float64(rss) / (1 << 20), target: 100, lowerBetter: true},
	)

	printFigures(figures)
	fmt.Printf("(warm-up pass, first touch of memory: upload %.0f MiB/s, download %.0f MiB/s)\n",
		mib/up[0].Seconds(), mib/down[0].Seconds())
	return nil
}

func printFigures(figures []figure) {
	fmt.Printf("\n%-52s %12s %12s\n", "measure", "measured", "target")
	for _, f := range figures {
		// Small figures (seconds) keep a decimal.
		prec := 0
		if f.value < 100 && f.value != float64(int64(f.value)) {
			prec = 1
		}
		if f.target == 0 {
			fmt.Printf("%-52s %8.*f %-5s\n", f.name, prec, f.value, f.unit)
			continue
		}
		mark := "ok"
		switch {
		case f.atMost && f.value > f.target, f.lowerBetter && !f.atMost && f.value >= f.target, !f.lowerBetter && !f.atMost && f.value < f.target:
			mark = "BELOW TARGET"
		}
		cmp := "≥"
		switch {
		case f.atMost:
			cmp = "≤"
		case f.lowerBetter:
			cmp = "<"
		}
		fmt.Printf("%-52s %8.*f %-5s %s %-6.0f %s\n", f.name, prec, f.value, f.unit, cmp, f.target, mark)
	}
}

// bigTransfer sends one large message to the profile's own mailbox,
// downloads and checks it, and acknowledges it (which deletes its files).
func bigTransfer(client *mesh.Client, p mesh.Profile, size int64) (up, down time.Duration, err error) {
	ctx := context.Background()
	start := time.Now()
	id, err := client.Send(ctx, mesh.Message{To: p.Mailbox, WorkflowID: p.Workflow}, pattern{size: size}, size)
	if err != nil {
		return 0, 0, fmt.Errorf("upload: %w", err)
	}
	up = time.Since(start)
	check := &patternChecker{}
	start = time.Now()
	if _, err := client.Download(ctx, id, check); err != nil {
		return 0, 0, fmt.Errorf("download: %w", err)
	}
	down = time.Since(start)
	if check.n != size || check.bad {
		return 0, 0, fmt.Errorf("download: got %d bytes (corrupt=%v), want %d", check.n, check.bad, size)
	}
	if err := client.Acknowledge(ctx, id); err != nil {
		return 0, 0, fmt.Errorf("acknowledge: %w", err)
	}
	return up, down, nil
}

// rate runs fn from n goroutines for d and returns completions per second.
func rate(n int, d time.Duration, fn func(context.Context) error) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := fn(ctx); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

type sandboxProc struct {
	cmd     *exec.Cmd
	url     string
	profile mesh.Profile
	target  mesh.Target
}

func startSandbox(bin, pkiDir, dataDir string, extra ...string) (*sandboxProc, error) {
	args := append([]string{"sandbox", "--listen", "127.0.0.1:0", "--pki-dir", pkiDir, "--quiet"}, extra...)
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	sb := &sandboxProc{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "MESH sandbox listening on "); ok {
			sb.url = strings.TrimSpace(u)
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if sb.url == "" {
		sb.stop()
		return nil, errors.New("sandbox did not print its URL")
	}
	t, err := mesh.LoadProfile(filepath.Join(pkiDir, "profile.json"))
	if err != nil {
		sb.stop()
		return nil, err
	}
	t.URL = sb.url
	sb.target = t
	sb.profile = mesh.Profile{Mailbox: t.Credentials.Mailbox, Workflow: t.Workflow}
	return sb, nil
}

func (s *sandboxProc) client(chunk int64) (*mesh.Client, error) {
	tlsCfg, err := s.target.TLSConfig()
	if err != nil {
		return nil, err
	}
	return mesh.NewClient(mesh.Config{BaseURL: s.url, Credentials: s.target.Credentials, TLS: tlsCfg, ChunkSize: chunk, MaxRetries: -1})
}

func (s *sandboxProc) freshConnectionClient() (*mesh.Client, error) {
	tlsCfg, err := s.target.TLSConfig()
	if err != nil {
		return nil, err
	}
	cert := tlsCfg.Certificates[0]
	tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return mesh.NewClient(mesh.Config{
		BaseURL: s.url, Credentials: s.target.Credentials, MaxRetries: -1,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true},
	})
}

func (s *sandboxProc) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// peakRSS reads a process's high-water resident set size (VmHWM), Linux only.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc status")
}

// pattern is a large message that is never held in memory: a table that
// repeats with a period that is not a power of two, so that a chunk put
// back in the wrong place shows.
type pattern struct{ size int64 }

const patternPeriod = 1<<20 + 13

var patternTable = func() []byte {
	t := make([]byte, patternPeriod)
	x := uint32(2463534242)
	for i := range t {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		t[i] = byte(x)
	}
	return t
}()

func patternByte(i int64) byte { return patternTable[i%patternPeriod] }

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	want := len(b)
	if rest := p.size - off; int64(want) > rest {
		want = int(rest)
	}
	n := 0
	for n < want {
		pos := (off + int64(n)) % patternPeriod
		n += copy(b[n:want], patternTable[pos:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// Read lets pattern pass as an io.Reader; Send reads it with ReadAt.
func (p pattern) Read([]byte) (int, error) {
	return 0, errors.New("pattern is read with ReadAt")
}

type patternChecker struct {
	n   int64
	bad bool
}

func (c *patternChecker) Write(b []byte) (int, error) {
	// Sample every 4 KiB: a full comparison would measure this loop, not MESH.
	for i := 0; i < len(b); i += 4096 {
		if b[i] != patternByte(c.n+int64(i)) {
			c.bad = true
		}
	}
	c.n += int64(len(b))
	return len(b), nil
}
