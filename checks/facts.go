package checks

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Options tune a run. The zero value is the default everywhere.
type Options struct {
	// Timeout bounds each check (default 10 s); Deadline bounds the whole run
	// (default 30 s), so a target that never answers still gets a verdict.
	Timeout  time.Duration
	Deadline time.Duration
	// Now is the local clock (default time.Now); tests move it.
	Now func() time.Time
	// Sources say where each setting came from, for the evidence, by name:
	// "mailbox", "password", "shared_key", "keystore_password", "keystore",
	// "ca_bundle" → "MESH_MAILBOX_PASSWORD", "--keystore", "profile x.json",
	// "PTL default for int". Never values.
	Sources map[string]string
	// ClientVersion is sent as mex-ClientVersion on the MESH handshake.
	ClientVersion string
	// Resolver resolves host names (default net.DefaultResolver).
	Resolver *net.Resolver
	// Alias picks a keystore entry when the keystore holds several.
	Alias string
	// GeoIPDB is a GeoIP2/GeoLite2/DB-IP country database; SourceIP is the
	// egress address to judge instead of discovering it.
	GeoIPDB  string
	SourceIP string
	// Getenv reads the environment (default os.Getenv), for checks that
	// look at variables of their own (the GeoIP database); the proxy
	// variables come with the target (mesh.Target.Proxy).
	Getenv func(string) string
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Deadline <= 0 {
		o.Deadline = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.ClientVersion == "" {
		o.ClientVersion = "meshdoctor"
	}
	return o
}

// Facts is what one run knows: the target, the options, the results of the
// checks that have finished, and the observations made so far. Checks share
// it; it is safe for concurrent use.
type Facts struct {
	Target  mesh.Target
	Options Options

	mu      sync.Mutex
	results map[string]Result
	causes  map[string]string // a skipped check → the failed check behind it
	obs     map[string]*observation
}

// NewFacts starts the facts of a run.
func NewFacts(t mesh.Target, opts Options) *Facts {
	return &Facts{Target: t, Options: opts.withDefaults(), results: map[string]Result{}, causes: map[string]string{}, obs: map[string]*observation{}}
}

// Result returns the result of a check that has finished in this run. A
// check sees the results of its Needs and After; others may not be done.
func (f *Facts) Result(id string) (Result, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[id]
	return r, ok
}

func (f *Facts) record(r Result) {
	f.mu.Lock()
	f.results[r.ID] = r
	f.mu.Unlock()
}

// Source says where a setting came from ("" when unknown).
func (f *Facts) Source(name string) string { return f.Options.Sources[name] }

// Now is the run's local clock.
func (f *Facts) Now() time.Time { return f.Options.Now() }

type observation struct {
	done  chan struct{}
	value any
}

// Observe returns the observation named key, making it with fn the first
// time it is asked for in the run. Concurrent callers wait for the first;
// every caller gets the same value. fn runs with the first caller's context,
// so an observation is bounded by that check's timeout. This is how a check
// file adds a fact of its own without touching Facts.
func Observe[T any](ctx context.Context, f *Facts, key string, fn func(context.Context) T) T {
	f.mu.Lock()
	o, found := f.obs[key]
	if !found {
		o = &observation{done: make(chan struct{})}
		f.obs[key] = o
	}
	f.mu.Unlock()
	if !found {
		defer close(o.done)
		o.value = fn(ctx)
		return o.value.(T)
	}
	select {
	case <-o.done:
		return o.value.(T)
	case <-ctx.Done():
		var zero T
		return zero
	}
}
