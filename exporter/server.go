package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshdoctor/meshdoctor/prober"
	"github.com/meshdoctor/meshdoctor/reports"
)

// Options start an exporter.
type Options struct {
	// ConfigFile is the YAML configuration, read at start and on Reload.
	ConfigFile string
	// Getenv reads the secrets' environment variables.
	Getenv func(string) string
	// Version and Revision describe this build (meshdoctor_build_info).
	Version, Revision string
	// MaxConcurrent bounds the probes running at once (default 16).
	MaxConcurrent int
	// TimeoutOffset is taken off the scrape's timeout, so that the answer
	// reaches Prometheus in time (default 0.5 s).
	TimeoutOffset time.Duration
	// Log receives the exporter's log (no secret is ever logged).
	Log *slog.Logger
}

// Exporter serves /probe, /metrics, /sd, /-/healthy, /-/reload and /.
type Exporter struct {
	opts    Options
	cfg     atomic.Pointer[Loaded]
	metrics *ownMetrics
	engine  *engine
	// reloadMu makes reloads one at a time.
	reloadMu sync.Mutex
}

// New loads the config and makes the exporter. A config that cannot be
// served is a *ConfigError.
func New(opts Options) (*Exporter, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.TimeoutOffset <= 0 {
		opts.TimeoutOffset = 500 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadFile(opts.ConfigFile, opts.Getenv)
	if err != nil {
		return nil, err
	}
	e := &Exporter{opts: opts, metrics: newOwnMetrics(opts.Version, opts.Revision)}
	e.engine = newEngine(opts.Getenv, opts.MaxConcurrent, e.metrics)
	e.install(cfg)
	return e, nil
}

func (e *Exporter) install(cfg *Loaded) {
	e.cfg.Store(cfg)
	e.metrics.reloadOK.Set(1)
	e.metrics.reloadSuccess.Set(float64(time.Now().Unix()))
	e.metrics.targets.Set(float64(len(cfg.Targets)))
}

// Config is the configuration being served.
func (e *Exporter) Config() *Loaded { return e.cfg.Load() }

// Reload reads the config again. A config that cannot be served is refused
// and the one in use kept; the reason is logged and
// meshdoctor_exporter_config_last_reload_successful goes to 0.
func (e *Exporter) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	cfg, err := LoadFile(e.opts.ConfigFile, e.opts.Getenv)
	if err != nil {
		e.metrics.reloadOK.Set(0)
		e.opts.Log.Error("configuration refused; the previous one is kept", "err", err.Error())
		return err
	}
	e.install(cfg)
	e.opts.Log.Info("configuration reloaded", "targets", len(cfg.Targets))
	return nil
}

// Handler serves the exporter's endpoints.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", e.serveProbe)
	mux.Handle("/metrics", promhttp.HandlerFor(e.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/sd", e.serveSD)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/reload", e.serveReload)
	mux.HandleFunc("/{$}", e.serveIndex)
	return mux
}

// badRequest answers 400 with one line.
func badRequest(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " "), http.StatusBadRequest)
}

// listNames names what exists, briefly enough for one line.
func listNames(names []string) string {
	const most = 20
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more (see /sd)", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// budget is the time a probe has: the scrape's own timeout less the offset,
// bounded by the module's timeout.
func (e *Exporter) budget(r *http.Request, module time.Duration) (time.Duration, error) {
	b := module
	if h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); h != "" {
		secs, err := strconv.ParseFloat(h, 64)
		if err != nil || !(secs > 0) || math.IsInf(secs, 0) { // NaN too
			return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q: want a positive number of seconds", h)
		}
		scrape := time.Duration(secs*float64(time.Second)) - e.opts.TimeoutOffset
		if scrape <= 0 {
			// Less than the offset: half of what there is.
			scrape = time.Duration(secs * float64(time.Second) / 2)
		}
		b = min(b, scrape)
	}
	return b, nil
}

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg := e.cfg.Load()
	q := r.URL.Query()
	name := q.Get("target")
	if name == "" {
		badRequest(w, "no target: give ?target=NAME (targets: %s)", listNames(cfg.Names()))
		return
	}
	t, ok := cfg.Target(name)
	if !ok {
		badRequest(w, "unknown target %q (targets: %s)", name, listNames(cfg.Names()))
		return
	}
	module := q.Get("module")
	if module == "" {
		module = ModuleCheck
	}
	var limit time.Duration
	switch module {
	case ModuleCheck:
		limit = time.Duration(cfg.Modules.Check.Timeout)
	case ModuleIdentity:
		limit = time.Duration(cfg.Modules.Identity.Timeout)
	case ModuleRoundTrip:
		limit = time.Duration(cfg.RoundTrip.Timeout)
	default:
		badRequest(w, "unknown module %q (modules: %s)", module, strings.Join(Modules, ", "))
		return
	}
	if !t.Allows(module) {
		badRequest(w, "target %s does not allow module %s (it allows: %s)", name, module, strings.Join(t.Modules, ", "))
		return
	}
	debug := false
	if v := q.Get("debug"); v != "" {
		var err error
		if debug, err = strconv.ParseBool(v); err != nil {
			badRequest(w, "debug=%q: want true or false", v)
			return
		}
	}
	budget, err := e.budget(r, limit)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	res, _ := e.engine.probe(r.Context(), cfg, t, module, budget)
	if debug {
		e.writeDebug(w, t, res)
		return
	}
	reg := probeRegistry(res, time.Since(start), time.Now())
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// writeDebug answers the probe's report as text: what 'check -v' prints, or
// the round trip's steps as 'roundtrip' prints them. It goes through the
// target's redaction like every report.
func (e *Exporter) writeDebug(w http.ResponseWriter, t *Target, res *Result) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Probe of %s with module %s: %s", t.Name, res.Module, map[bool]string{true: "success", false: "failure"}[res.Success])
	if res.Reason != "" {
		fmt.Fprintf(&b, " (%s)", res.Reason)
	}
	fmt.Fprintf(&b, "\nFinished %s, took %s\n\n", res.Finished.UTC().Format(time.RFC3339), res.Duration.Round(time.Millisecond))
	switch {
	case res.Run != nil:
		if err := reports.WriteText(&b, res.Run, reports.TextOptions{Verbose: true}); err != nil {
			fmt.Fprintf(&b, "could not write the report: %v\n", err)
		}
	case res.RoundTrip != nil:
		for _, s := range res.RoundTrip.Steps {
			prober.WriteStep(&b, s)
		}
		fmt.Fprintf(&b, "\n%d passed, %d failed, %d skipped\n", res.RoundTrip.Passed, res.RoundTrip.Failed, res.RoundTrip.Skipped)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(t.Redact(b.String())))
}

func (e *Exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
		return
	}
	if err := e.Reload(); err != nil {
		http.Error(w, strings.Join(strings.Fields(err.Error()), " "), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "configuration reloaded")
}

// sdModulesLabel lists, comma-surrounded, the modules a target allows.
const sdModulesLabel = "__meta_meshdoctor_modules"

// sdGroup is one entry of Prometheus's HTTP service discovery.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func (e *Exporter) serveSD(w http.ResponseWriter, _ *http.Request) {
	cfg := e.cfg.Load()
	groups := make([]sdGroup, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		labels := make(map[string]string, len(t.Labels)+1)
		maps.Copy(labels, t.Labels)
		// Prometheus drops __meta_ labels after relabelling: a job keeps
		// the targets that allow its module (regex .*,roundtrip,.*)
		// without a label of the operator's own to keep in step.
		labels[sdModulesLabel] = "," + strings.Join(t.Modules, ",") + ","
		groups = append(groups, sdGroup{Targets: []string{t.Name}, Labels: labels})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(groups)
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>meshdoctor exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.ok{color:#070}.fail{color:#b00}</style></head>
<body><h1>meshdoctor exporter</h1>
<p>{{.Targets}} target(s). <a href="/metrics">Metrics</a> · <a href="/sd">Service discovery</a> · <a href="/-/healthy">Health</a></p>
<table><tr><th>Target</th><th>Labels</th><th>Module</th><th>Last result</th><th>When</th><th>Took</th><th>Why</th><th>Debug</th></tr>
{{range .Rows}}<tr><td>{{.Target}}</td><td>{{.Labels}}</td><td>{{.Module}}</td>
{{if .Ran}}<td class="{{if .Success}}ok">success{{else}}fail">failure{{end}}</td><td>{{.When}}</td><td>{{.Took}}</td><td>{{.Reason}}</td>{{else}}<td>not probed yet</td><td></td><td></td><td></td>{{end}}
<td><a href="/probe?target={{.Target}}&amp;module={{.Module}}&amp;debug=true">probe</a></td></tr>
{{end}}</table></body></html>
`))

type indexRow struct {
	Target, Labels, Module string
	Ran, Success           bool
	When, Took, Reason     string
}

func (e *Exporter) serveIndex(w http.ResponseWriter, _ *http.Request) {
	cfg := e.cfg.Load()
	last := e.engine.lastResults()
	var rows []indexRow
	for _, t := range cfg.Targets {
		keys := make([]string, 0, len(t.Labels))
		for k, v := range t.Labels {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		for _, m := range t.Modules {
			row := indexRow{Target: t.Name, Labels: strings.Join(keys, ", "), Module: m}
			if res, ok := last[probeKey{t.Name, m}]; ok {
				row.Ran, row.Success, row.Reason = true, res.Success, res.Reason
				row.When = res.Finished.UTC().Format(time.RFC3339)
				row.Took = res.Duration.Round(time.Millisecond).String()
				row.Reason = t.Redact(row.Reason)
			}
			rows = append(rows, row)
		}
	}
	var b bytes.Buffer
	if err := indexPage.Execute(&b, struct {
		Targets int
		Rows    []indexRow
	}{len(cfg.Targets), rows}); err != nil {
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}
