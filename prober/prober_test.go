package prober

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/internal/proxytest"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/reports"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

func sandboxTarget(t *testing.T) mesh.Target {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: filepath.Join(t.TempDir(), "pki")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	target, err := mesh.LoadProfile(sb.Files().Profile)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func TestChecksAndRoundTripOnSandbox(t *testing.T) {
	target := sandboxTarget(t)
	all, err := checks.Select(nil, []string{"geo"})
	if err != nil {
		t.Fatal(err)
	}
	run, m := Checks(context.Background(), target, CheckJob{Command: "check", Checks: all})
	if !run.Summary.OK || len(run.Checks) != len(all) {
		t.Fatalf("checks on a clean sandbox: %+v", run.Summary)
	}
	if m.ServerLeaf == nil || m.ClientLeaf == nil || !m.ClockOffsetKnown || !m.InboxKnown {
		t.Errorf("measurements missing: %+v", m)
	}
	ids, err := IdentityChecks()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ids {
		if !c.Offline {
			t.Errorf("identity check %s touches the network", c.ID)
		}
	}

	var seen []string
	rt, err := NewRoundTrip(target, RoundTripOptions{Size: 40 << 10, Chunk: 16 << 10, Gzip: true, OnStep: func(s Step) { seen = append(seen, s.Name+" "+string(s.Status)) }})
	if err != nil {
		t.Fatal(err)
	}
	res := rt.Run(context.Background())
	if !res.OK() || res.Passed != 7 || len(seen) != 7 {
		t.Fatalf("round trip: %+v, steps seen %v", res, seen)
	}
	var b strings.Builder
	for _, s := range res.Steps {
		WriteStep(&b, s)
	}
	if !strings.Contains(b.String(), "download     40.0 KiB in 3 chunk(s), SHA-256 matches") {
		t.Errorf("steps as printed:\n%s", b.String())
	}
}

func TestNewRoundTripRefusals(t *testing.T) {
	target := sandboxTarget(t)
	for _, tc := range []struct {
		name string
		edit func(*mesh.Target)
		want string
	}{
		{"no workflow", func(t *mesh.Target) { t.Workflow = "" }, "no workflow"},
		{"no password", func(t *mesh.Target) { t.Credentials.Password = "" }, "no mailbox password"},
		{"no shared key", func(t *mesh.Target) { t.Credentials.SharedKey = "" }, "no shared key"},
		{"unreadable keystore", func(t *mesh.Target) { t.Keystore = "/nonexistent.p12" }, "nonexistent"},
	} {
		tg := target
		tc.edit(&tg)
		_, err := NewRoundTrip(tg, RoundTripOptions{Size: 1024})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, new(*ConfigError)) {
			t.Errorf("%s: %v, want a *ConfigError saying %q", tc.name, err, tc.want)
		}
	}
}

func TestUnmetNeeds(t *testing.T) {
	run := func(rs ...checks.Result) *reports.Run { return &reports.Run{Checks: rs} }
	for _, tc := range []struct {
		run  *reports.Run
		want string
	}{
		{run(checks.Result{ID: "mesh.handshake", Status: checks.Pass}), ""},
		{run(checks.Result{ID: "mesh.handshake", Status: checks.Warn}), ""},
		{run(), "mesh.handshake was not run"},
		{run(checks.Result{ID: "mesh.handshake", Status: checks.Fail}), "mesh.handshake failed"},
		{run(checks.Result{ID: "mesh.handshake", Status: checks.Error}), "mesh.handshake could not be checked"},
		{run(checks.Result{ID: "mesh.handshake", Status: checks.Skip, Summary: "skipped: tls.server failed"}), "mesh.handshake did not run (tls.server failed)"},
	} {
		if got := UnmetNeeds(tc.run, ConformanceNeeds); got != tc.want {
			t.Errorf("UnmetNeeds = %q, want %q", got, tc.want)
		}
	}
}

// A round trip whose time runs out (a proxy that never answers CONNECT)
// is still diagnosed: the checks get time of their own, so the cause is
// the proxy, not "no time was left".
func TestRoundTripOutOfTimeIsDiagnosed(t *testing.T) {
	target := sandboxTarget(t)
	silent := proxytest.Start(t, proxytest.Config{Silent: true})
	target.Proxy = mesh.ProxySettings{URL: "http://" + silent.Addr}
	rt, err := NewRoundTrip(target, RoundTripOptions{Size: 1024, DiagnoseTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res := rt.Run(ctx)
	if res.OK() || len(res.Steps) == 0 {
		t.Fatalf("round trip through a silent proxy: %+v", res)
	}
	s := res.Steps[0]
	if s.Cause == nil || s.Cause.ID != "tcp.connect" || !strings.Contains(s.Cause.Summary, "did not answer CONNECT") {
		t.Fatalf("step %s: cause %+v, want tcp.connect naming the silent proxy", s.Name, s.Cause)
	}
}
