package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshdoctor/meshdoctor/exporter"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// fixture is an exporter in front of two embedded sandboxes, each with a
// fault an alert must report: "expiring" (a client certificate 5 days from
// its end, otherwise healthy, with a message that has waited 4.5 days in
// its inbox) and
// "skewed" (MESH's clock 3 hours off, so every token is refused). "nosend"
// is the first sandbox again without the roundtrip module, which the
// README's roundtrip job must leave out.
type fixture struct {
	addr string // the exporter's host:port
}

func startFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	profiles := map[string]string{}
	// The expiring sandbox's clock starts 4.5 days back, for the message
	// left in its inbox; then it is put right.
	var back atomic.Int64
	back.Store(int64(108 * time.Hour))
	clock := func() time.Time { return time.Now().Add(-time.Duration(back.Load())) }
	for name, fault := range map[string]sandbox.Fault{"expiring": sandbox.FaultExpiringClient, "skewed": sandbox.FaultClockSkew} {
		cfg := sandbox.Config{Listen: "127.0.0.1:0", PKIDir: filepath.Join(dir, name), Faults: []sandbox.Fault{fault}}
		if name == "expiring" {
			cfg.Now, cfg.AllowStaleTokens = clock, true
		}
		srv, err := sandbox.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		profiles[name] = srv.Files().Profile
		if name == "expiring" {
			sendToInbox(t, srv, clock)
			back.Store(0)
		}
	}
	cfg := fmt.Sprintf(`targets:
  - name: expiring
    profile: %s
    modules: [check, identity, roundtrip]
    labels: {organisation: X26}
  - name: skewed
    profile: %s
    modules: [check, identity, roundtrip]
    labels: {organisation: X26}
  - name: nosend
    profile: %s
    labels: {organisation: X26}
modules:
  roundtrip: {min_interval: 1m, timeout: 10s}
`, profiles["expiring"], profiles["skewed"], profiles["expiring"])
	cfgPath := filepath.Join(dir, "meshdoctor.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exp, err := exporter.New(exporter.Options{ConfigFile: cfgPath, Getenv: func(string) string { return "" }, Version: "e2e"})
	if err != nil {
		t.Fatalf("exporter: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: exp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return fixture{addr: ln.Addr().String()}
}

// sendToInbox leaves a message from X26ABC2 waiting in X26ABC1's inbox, so
// that the inbox metrics have something to say.
func sendToInbox(t *testing.T, srv *sandbox.Server, clock func() time.Time) {
	t.Helper()
	c, err := mesh.NewClient(mesh.Config{BaseURL: srv.URL(), TLS: srv.ClientTLSConfig(), Clock: clock,
		Credentials: mesh.Credentials{Mailbox: "X26ABC2", Password: sandbox.DefaultPassword, SharedKey: sandbox.DefaultSharedKey}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Send(ctx, mesh.Message{To: "X26ABC1", WorkflowID: "TEST_WORKFLOW"}, strings.NewReader("waiting"), 7); err != nil {
		t.Fatalf("send a message to wait in the inbox: %v", err)
	}
}

// served is every metric name the exporter serves on /probe (each module,
// both targets) and /metrics, a histogram's series names included.
func (f fixture) served(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true} // Prometheus's own, per scrape
	get := func(path string) {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		families, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		for name, mf := range families {
			names[name] = true
			switch mf.GetType().String() {
			case "HISTOGRAM":
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			case "SUMMARY":
				names[name+"_sum"], names[name+"_count"] = true, true
			}
		}
	}
	for _, target := range []string{"expiring", "skewed"} {
		for _, module := range []string{"check", "identity", "roundtrip"} {
			get("/probe?" + url.Values{"target": {target}, "module": {module}}.Encode())
		}
	}
	// A second round trip within min_interval is served from the cache.
	get("/probe?target=expiring&module=roundtrip")
	get("/metrics")
	return names
}

// TestServedMetricsAreTheAgreedOnes keeps the list the offline tests check
// the dashboard and the rules against honest: it is what a real exporter
// serves.
func TestServedMetricsAreTheAgreedOnes(t *testing.T) {
	served := startFixture(t).served(t)
	var missing []string
	for _, m := range metricsMD {
		if !served[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the exporter does not serve %s", strings.Join(missing, ", "))
	}
}

// TestPrometheusEndToEnd runs a real Prometheus on loopback: it learns the
// targets from the exporter's /sd, scrapes /probe with blackbox-style
// relabelling, evaluates the shipped rules (their `for:` shortened, their
// expressions as shipped) until the faults' alerts fire, and answers every
// query of the shipped dashboard with at least one series.
func TestPrometheusEndToEnd(t *testing.T) {
	promBin := lookTool(t, "prometheus")
	f := startFixture(t)
	dir := t.TempDir()

	shipped := readFile(t, rulesFile)
	rules := regexp.MustCompile(`(?m)^(\s+for: ).*$`).ReplaceAllString(shipped, "${1}1s")
	if rules == shipped {
		t.Fatalf("%s has no `for:` to shorten", rulesFile)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := readmeScrapeConfig(t, f.addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, promBin, dir)

	// Alerts the faults must raise, and nothing else.
	want := []string{
		"MeshdoctorClientCertificateExpiring/expiring/critical",
		"MeshdoctorClientCertificateExpiring/nosend/critical",
		"MeshdoctorClockOffset/skewed/critical",
		"MeshdoctorInboxNotCollected/expiring/critical",
		"MeshdoctorInboxNotCollected/nosend/critical",
		"MeshdoctorProbeFailing/skewed/critical",
		"MeshdoctorRoundTripFailing/skewed/critical",
	}
	start := time.Now()
	deadline := start.Add(45 * time.Second)
	var firing []string
	for {
		firing = alerts(t, api, "firing")
		if containsAll(firing, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !containsAll(firing, want) {
		t.Fatalf("after 45 s Prometheus reports firing %v; want %v", firing, want)
	}
	t.Logf("firing after %s: %v", time.Since(start).Round(time.Second), firing)

	// Every dashboard query answers, with the variables as Grafana sets them.
	d := loadDashboard(t)
	pending := map[string]string{}
	for where, expr := range dashboardQueries(t, d) {
		expr = strings.NewReplacer(`"$job"`, `"meshdoctor.*"`, `instance=~"$instance"`, `instance=~".+"`,
			`instance="$instance"`, `instance="expiring"`, "$__rate_interval", "1m").Replace(expr)
		pending[where] = expr
	}
	for {
		for where, expr := range pending {
			if n := querySeries(t, api, expr); n > 0 {
				delete(pending, where)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline.Add(15*time.Second)) {
			break
		}
		time.Sleep(time.Second)
	}
	for where, expr := range pending {
		t.Errorf("dashboard panel %s: %s returns no series", where, expr)
	}
	// The targets carry the labels /sd gives them; the roundtrip job keeps
	// only the targets that allow it.
	if n := querySeries(t, api, `probe_success{job="meshdoctor",environment="custom",mailbox="X26ABC1",organisation="X26"}`); n != 3 {
		t.Errorf("%d targets of job meshdoctor with the labels /sd gives, want 3", n)
	}
	if n := querySeries(t, api, `up{job="meshdoctor-roundtrip"}`); n != 2 {
		t.Errorf("job meshdoctor-roundtrip scrapes %d targets, want 2 (nosend does not allow the module)", n)
	}

	// By now every job has scraped each of its targets: nothing else fires
	// or is about to (a healthy target, a probe cut short, a target a job
	// should not scrape would).
	for _, a := range alerts(t, api, "firing", "pending") {
		if !slices.Contains(want, a) {
			t.Errorf("unexpected alert: %s", a)
		}
	}
}

// readmeScrapeConfig is the README's Prometheus config, as an operator
// copies it, pointed at the test's exporter and rules, with intervals and
// timeouts shortened (they still leave a busy 2-core machine time to probe).
func readmeScrapeConfig(t *testing.T, exporterAddr string) string {
	t.Helper()
	blocks := readmeYAML(t)
	var block string
	for _, b := range blocks {
		if strings.Contains(b, "scrape_configs:") {
			block = b
			break
		}
	}
	for _, r := range [][2]string{
		{"127.0.0.1:9834", exporterAddr},
		{"scrape_interval: 1m", "scrape_interval: 5s"},
		{"scrape_timeout: 30s", "scrape_timeout: 5s"},
		{"scrape_interval: 5m", "scrape_interval: 8s"},
		{"scrape_timeout: 2m", "scrape_timeout: 8s"},
		{"/etc/prometheus/meshdoctor-rules.yml", "rules.yml"},
		{"[127.0.0.1:9093]", "[]"}, // no Alertmanager: the test reads the alerts from Prometheus's API
	} {
		if !strings.Contains(block, r[0]) {
			t.Fatalf("README's scrape config no longer holds %q: update this test with it", r[0])
		}
		block = strings.ReplaceAll(block, r[0], r[1])
	}
	return "global: {scrape_interval: 2s, evaluation_interval: 1s}\n" + block
}

// startPrometheus runs Prometheus on a free loopback port with the config
// in dir and returns its API's base URL once it is ready. The port is free
// when chosen but may be taken before Prometheus binds it: then it exits,
// and another port is tried.
func startPrometheus(t *testing.T, bin, dir string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		base, exited := tryPrometheus(t, bin, dir)
		if !exited {
			return base
		}
		if attempt == 3 {
			t.Fatalf("prometheus exited at start %d times", attempt)
		}
	}
}

func tryPrometheus(t *testing.T, bin, dir string) (base string, exited bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+data, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("prometheus log:\n%s", lastLines(logs.String(), 40))
		}
	})
	base = "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case <-done:
			t.Logf("prometheus exited at start: %s", lastLines(logs.String(), 3))
			return "", true
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// Ours, not another Prometheus that held the port first.
				var flags struct {
					Data map[string]string `json:"data"`
				}
				getJSON(t, base+"/api/v1/status/flags", &flags)
				if flags.Data["storage.tsdb.path"] != data {
					t.Logf("another Prometheus answers on %s", addr)
					cancel()
					<-done
					return "", true
				}
				return base, false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s after 20 s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alerts are the alerts in one of states as "name/instance/severity", sorted.
func alerts(t *testing.T, api string, states ...string) []string {
	t.Helper()
	var doc struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/alerts", &doc)
	var out []string
	for _, a := range doc.Data.Alerts {
		if slices.Contains(states, a.State) {
			out = append(out, a.Labels["alertname"]+"/"+a.Labels["instance"]+"/"+a.Labels["severity"])
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// querySeries is how many series an instant query returns.
func querySeries(t *testing.T, api, expr string) int {
	t.Helper()
	var doc struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric model.Metric `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &doc)
	if doc.Status != "success" {
		t.Fatalf("query %s: %s", expr, doc.Error)
	}
	return len(doc.Data.Result)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
