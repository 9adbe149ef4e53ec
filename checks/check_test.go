package checks

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

func TestCatalogueIsValid(t *testing.T) {
	if err := validateCatalogue(Catalogue()); err != nil {
		t.Fatal(err)
	}
}

// The IDs are a public contract: scripts and CI filter on them. A change
// here must be an addition.
func TestCatalogueKeepsReleasedIDs(t *testing.T) {
	released := []string{"target.eligibility", "auth.credentials", "dns.resolve", "tcp.connect",
		"tls.server", "tls.client-auth", "auth.clock", "mesh.handshake", "mesh.inbox"}
	var ids []string
	for _, c := range Catalogue() {
		ids = append(ids, c.ID)
	}
	for _, id := range released {
		if !slices.Contains(ids, id) {
			t.Errorf("released check %s is gone from the catalogue", id)
		}
	}
}

func TestSelect(t *testing.T) {
	ids := func(cs []Check) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		only, skip []string
		want       string
		wantErr    string
	}{
		{only: []string{"tcp.connect"}, want: "dns.resolve,tcp.connect"},
		{only: []string{"mesh.handshake"}, want: "auth.credentials,dns.resolve,tcp.connect,mesh.handshake"},
		{only: []string{"auth"}, want: "auth.credentials,dns.resolve,tcp.connect,auth.clock"},
		{only: []string{"dns.resolve"}, skip: []string{"dns"}, wantErr: "both --only and --skip"},
		{only: []string{"tcp.connect"}, skip: []string{"dns.resolve"}, want: "tcp.connect"},
		{skip: []string{"mesh.inbox", "target.eligibility"}, want: "auth.credentials,keystore.load,keystore.sha2,cert.client,cert.trust,dns.resolve,tcp.connect,tls.server,tls.client-auth,auth.clock,mesh.handshake,geo.source-ip"},
		{only: []string{"dns.resolv"}, wantErr: `unknown check "dns.resolv"; the checks are: target.eligibility`},
		{skip: []string{"nope"}, wantErr: `unknown check "nope"`},
	}
	for _, tt := range tests {
		got, err := Select(tt.only, tt.skip)
		if tt.wantErr != "" {
			var unknown *UnknownIDError
			if err == nil || !(errors.As(err, &unknown) || strings.Contains(err.Error(), "--only")) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Select(%v, %v) error %v, want %q", tt.only, tt.skip, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ids(got) != tt.want {
			t.Errorf("Select(%v, %v) = %s, %v; want %s", tt.only, tt.skip, ids(got), err, tt.want)
		}
	}
}

func fake(id string, needs []string, fn func(context.Context, *Facts) Verdict) Check {
	return Check{ID: id, Title: id, Needs: needs, Run: fn}
}

func TestRunnerOrdersSkipsAndBounds(t *testing.T) {
	var running, most atomic.Int32
	slow := func(v Verdict) func(context.Context, *Facts) Verdict {
		return func(ctx context.Context, _ *Facts) Verdict {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(50 * time.Millisecond)
			return v
		}
	}
	cs := []Check{
		fake("dns.a", nil, slow(Passf("a"))),
		fake("dns.b", nil, slow(Failf("b broke"))),
		fake("tcp.c", []string{"dns.b"}, slow(Passf("c"))),
		fake("tcp.d", []string{"tcp.c"}, slow(Passf("d"))),
		fake("tls.e", []string{"dns.a"}, func(ctx context.Context, _ *Facts) Verdict {
			<-ctx.Done() // never answers on its own
			return Failf("gave up")
		}),
		fake("tls.f", nil, func(context.Context, *Facts) Verdict { panic("boom") }),
		fake("tls.g", []string{"dns.a"}, func(_ context.Context, f *Facts) Verdict {
			if r, ok := f.Result("dns.a"); !ok || r.Status != Pass {
				return Failf("dns.a not visible")
			}
			return Warnf("saw dns.a")
		}),
	}
	start := time.Now()
	res := Run(context.Background(), mesh.Target{}, cs, Options{Timeout: 200 * time.Millisecond}, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run took %s; a hung check must be bounded by the timeout", took)
	}
	want := map[string]struct {
		status Status
		text   string
	}{
		"dns.a": {Pass, "a"},
		"dns.b": {Fail, "b broke"},
		"tcp.c": {Skip, "skipped: dns.b failed"},
		"tcp.d": {Skip, "skipped: tcp.c did not pass (dns.b failed)"},
		"tls.e": {Fail, "timed out"},
		"tls.f": {Error, "internal error in check tls.f: boom"},
		"tls.g": {Warn, "saw dns.a"},
	}
	for i, r := range res {
		if r.ID != cs[i].ID {
			t.Fatalf("result %d is %s, want %s (results keep the order asked)", i, r.ID, cs[i].ID)
		}
		w := want[r.ID]
		if r.Status != w.status || !strings.Contains(r.Summary, w.text) {
			t.Errorf("%s: %s %q, want %s containing %q", r.ID, r.Status, r.Summary, w.status, w.text)
		}
	}
	if most.Load() < 2 {
		t.Errorf("independent checks ran one at a time (at most %d at once)", most.Load())
	}
	if s := Summarize(res); s.OK() || s.Line() != "1 passed, 1 warned, 2 failed, 2 skipped, 1 error" {
		t.Errorf("summary %q ok=%v", s.Line(), s.OK())
	}
}

func TestRunnerDeadlineBoundsTheWholeRun(t *testing.T) {
	hang := func(ctx context.Context, _ *Facts) Verdict { <-ctx.Done(); return Failf("no answer") }
	cs := []Check{fake("dns.a", nil, hang), fake("tcp.b", nil, hang), fake("tls.c", nil, hang)}
	start := time.Now()
	res := Run(context.Background(), mesh.Target{}, cs, Options{Timeout: time.Hour, Deadline: 300 * time.Millisecond}, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("run took %s past a 300ms deadline", took)
	}
	for _, r := range res {
		if r.Status != Fail {
			t.Errorf("%s: %s, want fail", r.ID, r.Status)
		}
	}
}

func TestObserveOnce(t *testing.T) {
	f := NewFacts(mesh.Target{}, Options{})
	var calls atomic.Int32
	obs := func(context.Context) int { calls.Add(1); time.Sleep(20 * time.Millisecond); return 42 }
	done := make(chan int, 8)
	for range 8 {
		go func() { done <- Observe(context.Background(), f, "x", obs) }()
	}
	for range 8 {
		if v := <-done; v != 42 {
			t.Fatalf("got %d", v)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("observed %d times, want once", calls.Load())
	}
}

func TestEvidenceJSONKeepsOrder(t *testing.T) {
	v := Passf("x").With("zeta", 1).With("alpha", "two").With("empty", "")
	b, err := v.Evidence.MarshalJSON()
	if err != nil || string(b) != `{"zeta":"1","alpha":"two"}` {
		t.Fatalf("got %s, %v", b, err)
	}
	var back Evidence
	if err := back.UnmarshalJSON(b); err != nil || len(back) != 2 || back[0].Key != "zeta" {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

// TestInterruptIsNoVerdict: a check stopped by an interrupt (the caller's
// context cancelled) is reported as interrupted, never as a failure of
// MESH; what had not started says it was not run.
func TestInterruptIsNoVerdict(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	cs := []Check{
		{ID: "x.hang", Title: "hangs", Run: func(ctx context.Context, _ *Facts) Verdict {
			close(started)
			<-ctx.Done()
			return Failf("TLS handshake failed: %v", ctx.Err())
		}},
		{ID: "x.later", Title: "after", After: []string{"x.hang"}, Run: func(context.Context, *Facts) Verdict { return Passf("fine") }},
	}
	go func() { <-started; cancel() }()
	out := RunWith(ctx, NewFacts(mesh.Target{}, Options{Timeout: time.Minute, Deadline: time.Minute}), cs, nil)
	if out[0].Status != Error || !strings.HasPrefix(out[0].Summary, "interrupted before a verdict") || out[0].Remediation != "" {
		t.Errorf("interrupted check: %+v", out[0])
	}
	if out[1].Status != Error || out[1].Summary != "not run: the run was interrupted" {
		t.Errorf("check not started: %+v", out[1])
	}
}
