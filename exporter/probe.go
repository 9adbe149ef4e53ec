package exporter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/prober"
	"github.com/meshdoctor/meshdoctor/reports"
)

// Result is one probe's outcome: what /probe answers and / lists.
type Result struct {
	Target, Module string
	Success        bool
	// Reason says in one line why the probe failed (no secret).
	Reason   string
	Duration time.Duration
	Finished time.Time
	// Run is the checks' run (check and identity modules).
	Run          *reports.Run
	Measurements checks.Measurements
	// RoundTrip is the round trip (roundtrip module).
	RoundTrip *prober.RoundTripResult
}

// engine runs probes: one at a time per target and module (concurrent
// scrapes share it), at most limit at once in all, and a round trip at most
// once per min_interval per target.
type engine struct {
	getenv  func(string) string
	limit   chan struct{}
	now     func() time.Time
	metrics *ownMetrics

	mu       sync.Mutex
	inflight map[probeKey]*call
	// roundtrips are each target's last round trip, served between runs.
	roundtrips map[string]*Result
	// last are the last results, for the index page.
	last map[probeKey]*Result
	// held are check probes whose proxy refused the login, served again
	// instead of asking the proxy once a scrape (see holdRefusedLogin).
	held map[probeKey]heldResult
}

// heldResult is a result held for the target as loaded: a reload (with
// new credentials) makes new targets, which are probed at once.
type heldResult struct {
	target *Target
	res    *Result
}

type probeKey struct{ target, module string }

type call struct {
	done chan struct{}
	res  *Result
}

func newEngine(getenv func(string) string, maxConcurrent int, m *ownMetrics) *engine {
	return &engine{
		getenv: getenv, limit: make(chan struct{}, maxConcurrent), now: time.Now, metrics: m,
		inflight: map[probeKey]*call{}, roundtrips: map[string]*Result{}, last: map[probeKey]*Result{},
		held: map[probeKey]heldResult{},
	}
}

// checkGrace is kept between the checks' own deadline and the probe's, so
// that a check cut short still reports its verdict (a timeout, named).
const checkGrace = 250 * time.Millisecond

// probe runs (or joins, or serves from the round-trip cache) one probe of t
// with module, answering within budget. cached reports that this call ran
// no probe of its own.
func (e *engine) probe(ctx context.Context, cfg *Loaded, t *Target, module string, budget time.Duration) (res *Result, cached bool) {
	key := probeKey{t.Name, module}
	e.mu.Lock()
	if module == ModuleRoundTrip {
		if last := e.roundtrips[t.Name]; last != nil && e.now().Sub(last.Finished) < time.Duration(cfg.RoundTrip.MinInterval) {
			e.mu.Unlock()
			e.metrics.cacheHits.WithLabelValues(module).Inc()
			return last, true
		}
	}
	if h, ok := e.held[key]; ok && h.target == t && e.now().Sub(h.res.Finished) < time.Duration(cfg.RoundTrip.MinInterval) {
		e.mu.Unlock()
		e.metrics.cacheHits.WithLabelValues(module).Inc()
		return h.res, true
	}
	c, joined := e.inflight[key]
	if !joined {
		c = &call{done: make(chan struct{})}
		e.inflight[key] = c
		// The probe has its own context: the scrape that started it may
		// leave, and others may be waiting for it. A round trip is given
		// its module's time, not the scrape's: a real MESH may take longer
		// to deliver than a scrape lasts, and the result is served later.
		runBudget := budget
		if module == ModuleRoundTrip {
			runBudget = max(budget, time.Duration(cfg.RoundTrip.Timeout))
		}
		go e.run(c, key, cfg, t, runBudget)
	}
	previous := e.roundtrips[t.Name]
	e.mu.Unlock()
	if joined {
		e.metrics.cacheHits.WithLabelValues(module).Inc()
	}
	wait := time.NewTimer(budget)
	defer wait.Stop()
	select {
	case <-c.done:
		return c.res, joined
	case <-ctx.Done():
	case <-wait.C:
	}
	if module == ModuleRoundTrip && previous != nil {
		// The next round trip is still running: the last one is served,
		// its age saying how old it is.
		if !joined {
			e.metrics.cacheHits.WithLabelValues(module).Inc()
		}
		return previous, true
	}
	reason := fmt.Sprintf("the probe did not finish within the scrape's time (%s)", budget.Round(time.Millisecond))
	if module == ModuleRoundTrip {
		reason = fmt.Sprintf("the first round trip has not finished within the scrape's time (%s); it goes on, and a later scrape is answered with its result", budget.Round(time.Millisecond))
	}
	return &Result{Target: t.Name, Module: module, Finished: e.now(), Duration: budget, Reason: reason}, joined
}

func (e *engine) run(c *call, key probeKey, cfg *Loaded, t *Target, budget time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := e.now()
	res := e.runLimited(ctx, cfg, t, key.module, budget)
	res.Target, res.Module = t.Name, key.module
	res.Finished = e.now()
	res.Duration = res.Finished.Sub(start)
	result := "failure"
	if res.Success {
		result = "success"
	}
	e.metrics.probes.WithLabelValues(key.module, result).Inc()
	e.metrics.durations.WithLabelValues(key.module).Observe(res.Duration.Seconds())
	e.mu.Lock()
	delete(e.inflight, key)
	e.last[key] = res
	delete(e.held, key)
	if res.Measurements.ProxyLoginRefused {
		// A scrape a minute would be a refused login a minute, and a
		// Windows account locks after a handful: the refusal is served
		// until the config is reloaded (with the right password) or the
		// round trip's min_interval has passed.
		res.Reason += fmt.Sprintf(" (not tried again for %s, or until the config is reloaded: each refused login counts toward locking the account)", time.Duration(cfg.RoundTrip.MinInterval))
		e.held[key] = heldResult{t, res}
	}
	if key.module == ModuleRoundTrip {
		// Failures are kept too: a failing target is not to be hammered.
		e.roundtrips[t.Name] = res
	}
	e.mu.Unlock()
	c.res = res
	close(c.done)
}

func (e *engine) runLimited(ctx context.Context, cfg *Loaded, t *Target, module string, budget time.Duration) *Result {
	select {
	case e.limit <- struct{}{}:
		defer func() { <-e.limit }()
	case <-ctx.Done():
		return &Result{Reason: fmt.Sprintf("every probe slot (--max-concurrent %d) was busy until the scrape's deadline", cap(e.limit))}
	}
	e.metrics.inFlight.Inc()
	defer e.metrics.inFlight.Dec()
	switch module {
	case ModuleRoundTrip:
		return e.roundTrip(ctx, cfg, t)
	case ModuleIdentity:
		cs, err := prober.IdentityChecks()
		if err != nil {
			return &Result{Reason: err.Error()}
		}
		return e.checks(ctx, t, cs, budget)
	default:
		// geo.source-ip may ask public services for this machine's
		// address: not something to do on every scrape.
		cs, err := checks.Select(nil, []string{"geo"})
		if err != nil {
			return &Result{Reason: err.Error()}
		}
		return e.checks(ctx, t, cs, budget)
	}
}

func (e *engine) checks(ctx context.Context, t *Target, cs []checks.Check, budget time.Duration) *Result {
	deadline := max(budget-checkGrace, checkGrace)
	run, m := prober.Checks(ctx, t.Mesh, prober.CheckJob{
		Command: "exporter", Checks: cs,
		Options: checks.Options{
			Timeout: min(10*time.Second, deadline), Deadline: deadline,
			Sources: t.Sources, ClientVersion: buildinfo.ClientVersion(), Getenv: e.getenv,
		},
	})
	res := &Result{Run: run, Measurements: m, Success: run.Summary.OK}
	if !res.Success {
		for _, r := range run.Checks {
			if r.Status.Failed() {
				res.Reason = r.ID + ": " + r.Summary
				break
			}
		}
	}
	return res
}

func (e *engine) roundTrip(ctx context.Context, cfg *Loaded, t *Target) *Result {
	rt, err := prober.NewRoundTrip(t.Mesh, prober.RoundTripOptions{
		Size: cfg.RoundTrip.Size, Gzip: true, ClientVersion: buildinfo.ClientVersion(),
		PollInterval: time.Second, ListWait: time.Duration(cfg.RoundTrip.Timeout),
	})
	if err != nil {
		return &Result{Reason: "roundtrip: " + err.Error()}
	}
	r := rt.Run(ctx)
	res := &Result{RoundTrip: &r, Success: r.OK()}
	for _, s := range r.Steps {
		if s.Status == prober.StepFail {
			res.Reason = s.Name + ": " + s.Detail
			if s.Cause != nil {
				res.Reason += " (cause " + s.Cause.ID + ": " + s.Cause.Summary + ")"
			}
			break
		}
	}
	return res
}

// lastResults are the last results, for the index page.
func (e *engine) lastResults() map[probeKey]*Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[probeKey]*Result, len(e.last))
	for k, v := range e.last {
		out[k] = v
	}
	return out
}
