package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/proxytest"
)

// exporterBench is the exporter's figure: one exporter in front of one
// sandbox holding n mailboxes, each configured as a target and probed once
// with the check module by scrapers concurrent scrapes at a time, as
// Prometheus would. The sandbox is reached through a forwarder here that
// counts the TCP (so TLS) connections it sees.
func exporterBench(bin, tmp string, n, scrapers int) ([]figure, error) {
	dir := filepath.Join(tmp, "exporter")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	const password = "bench-password"
	var mailboxes strings.Builder
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("BENCH%04d", i+1)
		line, _ := json.Marshal(map[string]string{"mailbox_id": ids[i], "mailbox_name": ids[i], "ods_code": "X26", "org_code": "X26", "password": password})
		mailboxes.Write(line)
		mailboxes.WriteByte('\n')
	}
	mbFile := filepath.Join(dir, "mailboxes.jsonl")
	if err := os.WriteFile(mbFile, []byte(mailboxes.String()), 0o600); err != nil {
		return nil, err
	}
	sb, err := startSandbox(bin, filepath.Join(dir, "pki"), "", "--mailboxes", mbFile)
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	fwd, err := proxytest.Forward(strings.TrimPrefix(sb.url, "https://"))
	if err != nil {
		return nil, err
	}
	defer fwd.Close()

	var cfg strings.Builder
	cfg.WriteString("targets:\n")
	for _, id := range ids {
		fmt.Fprintf(&cfg, "  - name: %s\n    url: https://%s\n    mailbox: %s\n    keystore: %s\n    ca_bundle: %s\n    secrets:\n      mailbox_password: {env: BENCH_PASSWORD}\n      shared_key: {env: BENCH_SHARED_KEY}\n      keystore_password: {env: BENCH_KEYSTORE_PASSWORD}\n    labels: {organisation: BENCH}\n",
			strings.ToLower(id), fwd.Addr, id, sb.target.Keystore, sb.target.CABundle)
	}
	cfgFile := filepath.Join(dir, "meshdoctor.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	listen := ln.Addr().String()
	ln.Close()
	exp := exec.Command(bin, "exporter", "--config", cfgFile, "--listen", listen)
	exp.Env = append(os.Environ(), "BENCH_PASSWORD="+password, "BENCH_SHARED_KEY="+sb.target.Credentials.SharedKey, "BENCH_KEYSTORE_PASSWORD="+sb.target.KeystorePassword)
	exp.Stderr = io.Discard
	if err := exp.Start(); err != nil {
		return nil, err
	}
	defer func() {
		exp.Process.Signal(os.Interrupt)
		exp.Wait()
	}()
	base := "http://" + listen
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("exporter did not start: %w", err)
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scrapers}}
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := probeOnce(client, base, strings.ToLower(ids[i])); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d probes failed; the first: %w", f, n, firstErr)
	}
	rss, err := peakRSS(exp.Process.Pid)
	if err != nil {
		return nil, err
	}
	conns := fwd.Total.Load()
	return []figure{
		{name: fmt.Sprintf("exporter: %d check probes, %d scrapers, wall time", n, scrapers), unit: "s", value: wall.Seconds(), target: 60, lowerBetter: true},
		{name: "exporter: probes/s", unit: "/s", value: float64(n) / wall.Seconds()},
		{name: "exporter: peak RSS", unit: "MiB", value: float64(rss) / (1 << 20), target: 200, lowerBetter: true},
		{name: "exporter: TLS connections the sandbox saw", unit: "", value: float64(conns), target: float64(n), atMost: true},
	}, nil
}

// probeOnce scrapes one target as Prometheus would and wants probe_success 1.
func probeOnce(client *http.Client, base, target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/probe?target="+target+"&module=check", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "30")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "probe_success 1" {
			io.Copy(io.Discard, resp.Body)
			return nil
		}
	}
	return fmt.Errorf("%s: no probe_success 1 (status %d)", target, resp.StatusCode)
}
