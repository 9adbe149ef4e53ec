package exporter

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/proxytest"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

func TestProbeCheckExposition(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "    labels: {organisation: RXX}\n"), 4)
	code, body := s.get(t, "/probe?target=mb1", 10)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	fams := parse(t, body)
	if v, ok := value(fams, "probe_success"); !ok || v != 1 {
		t.Fatalf("probe_success = %v (present %v)\n%s", v, ok, body)
	}
	if _, ok := value(fams, "probe_duration_seconds"); !ok {
		t.Error("no probe_duration_seconds")
	}
	// The state set: every check has its five statuses, exactly one at 1.
	perCheck := map[string]float64{}
	for _, m := range fams["meshdoctor_check_status"].GetMetric() {
		var check string
		for _, l := range m.GetLabel() {
			if l.GetName() == "check" {
				check = l.GetValue()
			}
		}
		perCheck[check] += m.GetGauge().GetValue()
	}
	for _, id := range []string{"tls.server", "mesh.handshake", "mesh.inbox", "keystore.load", "auth.clock"} {
		if perCheck[id] != 1 {
			t.Errorf("check %s: state set sums to %v, want 1", id, perCheck[id])
		}
		if len(fams["meshdoctor_check_status"].GetMetric())%5 != 0 {
			t.Errorf("state set has %d series, not five per check", len(fams["meshdoctor_check_status"].GetMetric()))
		}
		if v, ok := value(fams, "meshdoctor_check_status", "check", id, "status", "pass"); !ok || v != 1 {
			t.Errorf("check %s is not pass on a clean sandbox", id)
		}
		if _, ok := value(fams, "meshdoctor_check_duration_seconds", "check", id); !ok {
			t.Errorf("no duration for %s", id)
		}
	}
	now := float64(time.Now().Unix())
	for _, role := range []string{"client", "server", "ca"} {
		v, ok := value(fams, "meshdoctor_certificate_expiry_timestamp_seconds", "role", role)
		if !ok || v < now {
			t.Errorf("certificate expiry for role %s = %v (present %v), want a future timestamp", role, v, ok)
		}
	}
	if v, ok := value(fams, "meshdoctor_clock_offset_seconds"); !ok || v < -2 || v > 2 {
		t.Errorf("clock offset = %v (present %v), want about 0", v, ok)
	}
	if v, ok := value(fams, "meshdoctor_inbox_messages"); !ok || v != 0 {
		t.Errorf("inbox messages = %v (present %v), want 0", v, ok)
	}
	if _, ok := value(fams, "meshdoctor_inbox_oldest_message_age_seconds"); ok {
		t.Error("oldest message age given for an empty inbox")
	}
	if _, ok := fams["meshdoctor_roundtrip_success"]; ok {
		t.Error("round-trip metrics in a check probe")
	}
	if got := w.fwd.Total.Load(); got != 1 {
		t.Errorf("the check probe made %d connections, want 1", got)
	}
}

func TestProbeIdentityUsesNoNetwork(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", ""), 4)
	code, body := s.get(t, "/probe?target=mb1&module=identity", 10)
	fams := parse(t, body)
	if v, _ := value(fams, "probe_success"); code != 200 || v != 1 {
		t.Fatalf("identity probe: %d\n%s", code, body)
	}
	if _, ok := value(fams, "meshdoctor_certificate_expiry_timestamp_seconds", "role", "client"); !ok {
		t.Error("no client certificate expiry")
	}
	if _, ok := value(fams, "meshdoctor_check_status", "check", "tls.server"); ok {
		t.Error("the identity module ran a network check")
	}
	if n := w.fwd.Total.Load(); n != 0 {
		t.Errorf("the identity module opened %d connections", n)
	}
}

func TestRoundTripRunsAtMostOncePerMinInterval(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "    modules: [check, roundtrip]\n")+"modules:\n  roundtrip: {min_interval: 1h}\n", 4)
	_, first := s.get(t, "/probe?target=mb1&module=roundtrip", 10)
	fams := parse(t, first)
	if v, _ := value(fams, "meshdoctor_roundtrip_success"); v != 1 {
		t.Fatalf("round trip failed:\n%s", first)
	}
	if v, _ := value(fams, "probe_success"); v != 1 {
		t.Fatalf("probe_success 0 for a successful round trip")
	}
	time.Sleep(20 * time.Millisecond)
	conns := w.fwd.Total.Load()
	_, second := s.get(t, "/probe?target=mb1&module=roundtrip", 10)
	fams = parse(t, second)
	if age, _ := value(fams, "meshdoctor_roundtrip_result_age_seconds"); age < 0.02 {
		t.Errorf("the second scrape's result age is %v: not the cached result", age)
	}
	if w.fwd.Total.Load() != conns {
		t.Error("the second scrape within min_interval reached MESH")
	}
	_, own := s.get(t, "/metrics", 0)
	own2 := parse(t, own)
	if v, _ := value(own2, "meshdoctor_exporter_probes_total", "module", "roundtrip", "result", "success"); v != 1 {
		t.Errorf("round trips run = %v, want 1", v)
	}
	if v, _ := value(own2, "meshdoctor_exporter_probe_cache_hits_total", "module", "roundtrip"); v != 1 {
		t.Errorf("cache hits = %v, want 1", v)
	}
	_, debug := s.get(t, "/probe?target=mb1&module=roundtrip&debug=true", 10)
	if !strings.Contains(debug, "acknowledge") || !strings.Contains(debug, "7 passed, 0 failed") {
		t.Errorf("debug of a round trip does not show its steps:\n%s", debug)
	}
}

func TestConcurrentScrapesShareOneProbe(t *testing.T) {
	w := newWorld(t)
	w.fwd.Delay.Store(int64(600 * time.Millisecond))
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", ""), 4)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = s.get(t, "/probe?target=mb1", 10)
		}()
	}
	wg.Wait()
	for i, body := range results {
		if v, _ := value(parse(t, body), "probe_success"); v != 1 {
			t.Errorf("scrape %d: probe_success %v", i, v)
		}
	}
	if n := w.fwd.Total.Load(); n != 1 {
		t.Errorf("8 concurrent scrapes of one target made %d connections, want 1", n)
	}
	own := parse(t, get(t, s, "/metrics"))
	if v, _ := value(own, "meshdoctor_exporter_probes_total", "module", "check", "result", "success"); v != 1 {
		t.Errorf("probes run = %v, want 1", v)
	}
	if v, _ := value(own, "meshdoctor_exporter_probe_cache_hits_total", "module", "check"); v != 7 {
		t.Errorf("cache hits = %v, want 7", v)
	}
}

func TestGlobalConcurrencyLimit(t *testing.T) {
	w := newWorld(t, "X26ABC1", "X26ABC2", "X26ABC3")
	w.fwd.Delay.Store(int64(200 * time.Millisecond))
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "")+w.targetYAML("mb2", "X26ABC2", "")+w.targetYAML("mb3", "X26ABC3", ""), 1)
	// Each connection is held 200 ms before it reaches the sandbox: three
	// probes one at a time take at least 600 ms, at once about 200 ms.
	// (Counting open connections at the forwarder would not do: a finished
	// probe's connection closes there a moment after the next one opens.)
	start := time.Now()
	var wg sync.WaitGroup
	for _, name := range []string{"mb1", "mb2", "mb3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, _ := value(parse(t, get(t, s, "/probe?target="+name)), "probe_success"); v != 1 {
				t.Errorf("%s failed", name)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("with --max-concurrent 1, three probes took %s: they ran at once", took)
	}
	if got := w.fwd.Total.Load(); got != 3 {
		t.Errorf("3 targets made %d connections", got)
	}
}

// A target that accepts the connection and never answers is a failed probe
// with a reason, answered within the scrape's timeout, never a timeout.
func TestScrapeTimeoutHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	w := newWorld(t)
	w.fwd.Addr = ln.Addr().String()
	s := w.serve(t, "targets:\n"+w.targetYAML("silent", "X26ABC1", ""), 4)
	for _, tc := range []struct {
		header float64
		within time.Duration
	}{{2, 2 * time.Second}, {1.5, 1500 * time.Millisecond}} {
		start := time.Now()
		code, body := s.get(t, "/probe?target=silent", tc.header)
		took := time.Since(start)
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		if took > tc.within {
			t.Errorf("header %vs: answered after %s", tc.header, took)
		}
		if v, _ := value(parse(t, body), "probe_success"); v != 0 {
			t.Errorf("a silent target's probe succeeded")
		}
	}
	_, debug := s.get(t, "/probe?target=silent&debug=true", 2)
	if !strings.Contains(debug, "failure (") {
		t.Errorf("debug gives no reason:\n%s", debug)
	}
}

func TestBadProbeRequests(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "")+w.targetYAML("mb2", "X26ABC2", "    modules: [identity]\n"), 4)
	for _, tc := range []struct {
		path, header string
		want         []string
	}{
		{"/probe", "", []string{"no target", "mb1, mb2"}},
		{"/probe?target=nope", "", []string{`unknown target "nope"`, "mb1, mb2"}},
		{"/probe?target=mb1&module=http_2xx", "", []string{`unknown module "http_2xx"`, "check, identity, roundtrip"}},
		{"/probe?target=mb1&module=roundtrip", "", []string{"does not allow module roundtrip", "check, identity"}},
		{"/probe?target=mb2", "", []string{"does not allow module check", "identity"}},
		{"/probe?target=mb1&debug=maybe", "", []string{"debug"}},
		{"/probe?target=mb1", "soon", []string{"X-Prometheus-Scrape-Timeout-Seconds"}},
		{"/probe?target=mb1", "NaN", []string{"X-Prometheus-Scrape-Timeout-Seconds"}},
		{"/probe?target=mb1", "+Inf", []string{"X-Prometheus-Scrape-Timeout-Seconds"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.path, resp.StatusCode)
		}
		if strings.Count(strings.TrimSpace(b), "\n") != 0 {
			t.Errorf("%s: not one line: %q", tc.path, b)
		}
		for _, want := range tc.want {
			if !strings.Contains(b, want) {
				t.Errorf("%s: %q does not say %q", tc.path, b, want)
			}
		}
	}
	if code, _ := s.get(t, "/-/reload", 0); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}
}

func TestSDAndIndex(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "    labels: {organisation: RXX, site: main}\n"), 4)
	code, sd := s.get(t, "/sd", 0)
	for _, want := range []string{`"targets":["mb1"]`, `"organisation":"RXX"`, `"site":"main"`, `"mailbox":"X26ABC1"`, `"environment":"custom"`, `"__meta_meshdoctor_modules":",check,identity,"`} {
		if code != 200 || !strings.Contains(sd, want) {
			t.Errorf("/sd lacks %s: %s", want, sd)
		}
	}
	if strings.Contains(sd, "__param_module") {
		t.Error("/sd sets the module")
	}
	s.get(t, "/probe?target=mb1", 10)
	if _, page := s.get(t, "/", 0); !strings.Contains(page, "mb1") || !strings.Contains(page, "success") {
		t.Errorf("index page does not list the last result:\n%s", page)
	}
	if code, body := s.get(t, "/-/healthy", 0); code != 200 || !strings.Contains(body, "Healthy") {
		t.Errorf("/-/healthy: %d %s", code, body)
	}
}

// promtool check metrics lints a real /probe answer.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: apt-get install prometheus to lint the exposition")
	}
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "    modules: [check, roundtrip]\n"), 4)
	for _, module := range []string{"check", "roundtrip"} {
		_, body := s.get(t, "/probe?target=mb1&module="+module, 10)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics (%s): %v\n%s", module, err, out)
		}
	}
	_, own := s.get(t, "/metrics", 0)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(own)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics (/metrics): %v\n%s", err, out)
	}
}

func get(t *testing.T, s *served, path string) string {
	t.Helper()
	_, b := s.get(t, path, 10)
	return b
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The numbers behind the alerts: messages waiting and the age of the
// oldest, and a skewed clock.
func TestProbeInboxAndClock(t *testing.T) {
	w := newWorld(t)
	target, err := mesh.LoadProfile(w.files.Profile)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := target.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := mesh.NewClient(mesh.Config{BaseURL: w.sb.URL(), TLS: tlsCfg,
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: testPassword, SharedKey: testSharedKey}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := client.Send(context.Background(), mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW2"}, strings.NewReader("hello"), 5); err != nil {
			t.Fatal(err)
		}
	}
	s := w.serve(t, "targets:\n"+w.targetYAML("mb2", "X26ABC2", ""), 4)
	fams := parse(t, get(t, s, "/probe?target=mb2"))
	if v, ok := value(fams, "meshdoctor_inbox_messages"); !ok || v != 2 {
		t.Errorf("inbox messages = %v (present %v), want 2", v, ok)
	}
	if v, ok := value(fams, "meshdoctor_inbox_oldest_message_age_seconds"); !ok || v < 0 || v > 300 {
		t.Errorf("oldest message age = %v (present %v), want a few seconds", v, ok)
	}

	skewed := newFaultyWorld(t, []sandbox.Fault{sandbox.FaultClockSkew})
	s = skewed.serve(t, "targets:\n"+skewed.targetYAML("mb1", "X26ABC1", ""), 4)
	fams = parse(t, get(t, s, "/probe?target=mb1"))
	want := sandbox.ClockSkew.Seconds()
	if v, ok := value(fams, "meshdoctor_clock_offset_seconds"); !ok || v < want-60 || v > want+60 {
		t.Errorf("clock offset = %v (present %v), want about %v", v, ok, want)
	}
	if v, _ := value(fams, "probe_success"); v != 0 {
		t.Error("a 3-hour clock skew is a successful probe")
	}
}

// A round trip longer than a scrape goes on after the scrape; later scrapes
// are answered with the last finished round trip while the next one runs.
func TestRoundTripOutlivesTheScrape(t *testing.T) {
	w := newWorld(t)
	w.fwd.Delay.Store(int64(1500 * time.Millisecond))
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", "    modules: [roundtrip]\n")+"modules:\n  roundtrip: {min_interval: 100ms, timeout: 30s}\n", 4)
	code, body := s.get(t, "/probe?target=mb1&module=roundtrip", 1)
	fams := parse(t, body)
	if v, _ := value(fams, "meshdoctor_roundtrip_success"); code != 200 || v != 0 {
		t.Fatalf("the first scrape, shorter than the round trip: %d\n%s", code, body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		own := parse(t, get(t, s, "/metrics"))
		if v, _ := value(own, "meshdoctor_exporter_probes_total", "module", "roundtrip", "result", "success"); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the round trip never finished after its scrape left")
		}
	}
	time.Sleep(150 * time.Millisecond) // past min_interval: the next scrape starts another
	_, body = s.get(t, "/probe?target=mb1&module=roundtrip", 1)
	fams = parse(t, body)
	if v, _ := value(fams, "meshdoctor_roundtrip_success"); v != 1 {
		t.Errorf("while the next round trip runs, the last one is not served:\n%s", body)
	}
	if age, _ := value(fams, "meshdoctor_roundtrip_result_age_seconds"); age < 0.15 {
		t.Errorf("served result's age %v", age)
	}
}

// TestRefusedProxyLoginIsNotRepeated: a proxy that refuses the target's
// credentials is not asked again on every scrape (each refusal counts
// toward locking a Windows account): the refusal is served until the
// config is reloaded.
func TestRefusedProxyLoginIsNotRepeated(t *testing.T) {
	w := newWorld(t)
	px := proxytest.Start(t, proxytest.Config{Schemes: []string{"Basic"}, User: "alice", Password: "right-pw"})
	w.env["PROXY_PW"] = "wrong-pw"
	target := strings.Replace(w.targetYAML("mb1", "X26ABC1", "    proxy: http://"+px.Addr+"\n    proxy_user: alice\n"),
		"    secrets:\n", "    secrets:\n      proxy_password: {env: PROXY_PW}\n", 1)
	s := w.serve(t, "targets:\n"+target, 4)
	for i := 0; i < 3; i++ {
		if _, body := s.get(t, "/probe?target=mb1", 5); !strings.Contains(body, "probe_success 0") {
			t.Fatalf("scrape %d through a proxy refusing the login:\n%s", i, body)
		}
	}
	if n := px.Refused.Load(); n != 1 {
		t.Errorf("the proxy refused %d logins over 3 scrapes, want 1", n)
	}
	if _, body := s.get(t, "/probe?target=mb1&debug=true", 5); !strings.Contains(body, "not tried again") || !strings.Contains(body, "refused the credentials") {
		t.Errorf("debug does not say why the proxy is not asked again:\n%s", body)
	}
	// A reload (the password put right) probes at once.
	w.env["PROXY_PW"] = "right-pw"
	if err := s.exp.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, body := s.get(t, "/probe?target=mb1", 5); !strings.Contains(body, "probe_success 1") {
		t.Errorf("after the reload with the right password:\n%s", body)
	}
}
