package exporter

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meshdoctor/meshdoctor/checks"
)

// The metric names are a public interface (like check IDs): add, never
// rename. They are listed in the README's exporter section.

// ownMetrics are the exporter's own, served on /metrics.
type ownMetrics struct {
	reg           *prometheus.Registry
	probes        *prometheus.CounterVec
	durations     *prometheus.HistogramVec
	cacheHits     *prometheus.CounterVec
	inFlight      prometheus.Gauge
	reloadOK      prometheus.Gauge
	reloadSuccess prometheus.Gauge
	targets       prometheus.Gauge
}

func newOwnMetrics(version, revision string) *ownMetrics {
	m := &ownMetrics{
		reg: prometheus.NewRegistry(),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshdoctor_exporter_probes_total", Help: "Probes run, by module and result.",
		}, []string{"module", "result"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshdoctor_exporter_probe_duration_seconds", Help: "How long probes took, by module.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"module"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshdoctor_exporter_probe_cache_hits_total", Help: "Scrapes served by a probe already in flight or a cached round trip, by module.",
		}, []string{"module"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshdoctor_exporter_probes_in_flight", Help: "Probes running now (at most --max-concurrent).",
		}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshdoctor_exporter_config_last_reload_successful", Help: "Whether the last configuration reload succeeded (1) or was refused, the previous configuration kept (0).",
		}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshdoctor_exporter_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully.",
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshdoctor_exporter_targets", Help: "Targets in the configuration served.",
		}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshdoctor_build_info", Help: "meshdoctor's version, revision and Go version; always 1.",
	}, []string{"version", "revision", "goversion"})
	info.WithLabelValues(version, revision, runtime.Version()).Set(1)
	m.reg.MustRegister(m.probes, m.durations, m.cacheHits, m.inFlight, m.reloadOK, m.reloadSuccess, m.targets, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statuses are every check status, for the state set.
var statuses = []checks.Status{checks.Pass, checks.Warn, checks.Fail, checks.Skip, checks.Error}

// probeRegistry holds one probe's metrics: what /probe answers.
func probeRegistry(res *Result, scrape time.Duration, now time.Time) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	vec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	success := gauge("probe_success", "Displays whether or not the probe was a success")
	if res.Success {
		success.Set(1)
	}
	gauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds").Set(scrape.Seconds())

	if run := res.Run; run != nil {
		status := vec("meshdoctor_check_status", "The check's status: 1 for its current status, 0 for the others.", "check", "status")
		took := vec("meshdoctor_check_duration_seconds", "How long the check took.", "check")
		for _, r := range run.Checks {
			for _, s := range statuses {
				v := 0.0
				if r.Status == s {
					v = 1
				}
				status.WithLabelValues(r.ID, string(s)).Set(v)
			}
			took.WithLabelValues(r.ID).Set(r.Duration.Seconds())
		}
		expiry := map[[2]string]time.Time{}
		add := func(role, subject string, notAfter time.Time) {
			// Two certificates with one subject (a CA and its renewal):
			// the connection is good while the later one is.
			k := [2]string{role, subject}
			if notAfter.After(expiry[k]) {
				expiry[k] = notAfter
			}
		}
		m := res.Measurements
		if m.ClientLeaf != nil {
			add("client", m.ClientLeaf.Subject, m.ClientLeaf.NotAfter)
		}
		if m.ServerLeaf != nil {
			add("server", m.ServerLeaf.Subject, m.ServerLeaf.NotAfter)
		}
		for _, c := range run.Target.Certificates() {
			if c.Role != "CA bundle" || c.NotAfter == "" {
				continue
			}
			if t, err := time.Parse(time.RFC3339, c.NotAfter); err == nil {
				add("ca", c.Subject, t)
			}
		}
		if len(expiry) > 0 {
			g := vec("meshdoctor_certificate_expiry_timestamp_seconds", "When the certificate expires (NotAfter), as a Unix timestamp: the client's, the server's leaf, each CA of the bundle.", "role", "subject")
			for k, t := range expiry {
				g.WithLabelValues(k[0], k[1]).Set(float64(t.Unix()))
			}
		}
		if m.ClockOffsetKnown {
			gauge("meshdoctor_clock_offset_seconds", "MESH's Date header minus this machine's clock (positive: this machine is behind).").Set(m.ClockOffset.Seconds())
		}
		if m.InboxKnown {
			gauge("meshdoctor_inbox_messages", "Messages waiting in the inbox.").Set(float64(m.InboxMessages))
			if m.InboxMessages > 0 && !m.InboxOldest.IsZero() {
				gauge("meshdoctor_inbox_oldest_message_age_seconds", "How long the oldest message in the inbox has waited.").Set(now.Sub(m.InboxOldest).Seconds())
			}
		}
	}
	if res.Module == ModuleRoundTrip {
		ok := gauge("meshdoctor_roundtrip_success", "Whether the last round trip (send to itself, receive, acknowledge) succeeded.")
		if res.Success {
			ok.Set(1)
		}
		if res.RoundTrip != nil {
			gauge("meshdoctor_roundtrip_duration_seconds", "How long the last round trip took.").Set(res.RoundTrip.Duration.Seconds())
		}
		gauge("meshdoctor_roundtrip_result_age_seconds", "How old the round-trip result served is (round trips run at most once per min_interval).").Set(now.Sub(res.Finished).Seconds())
	}
	return reg
}
