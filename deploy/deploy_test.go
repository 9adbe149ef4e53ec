// Package deploy holds what ships beside the binary for Prometheus and
// Grafana: the alert rules (prometheus/) and the dashboard (grafana/). Its
// tests prove them: promtool's own checks and unit tests of every alert, the
// dashboard's queries against the metric names the exporter serves, and an
// end-to-end run with a real Prometheus.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/exporter"
)

const (
	rulesFile     = "prometheus/meshdoctor-rules.yml"
	rulesTestFile = "prometheus/meshdoctor-rules.test.yml"
	dashboardFile = "grafana/meshdoctor-dashboard.json"
)

// lookTool finds a Prometheus tool or skips, saying how CI gets it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: %v (Debian's prometheus package provides it; .ci/run installs it)", name, err)
	}
	return path
}

func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lookTool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRulesPassPromtool(t *testing.T) {
	out := runTool(t, "prometheus", "promtool", "check", "rules", filepath.Base(rulesFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
	out = runTool(t, "prometheus", "promtool", "test", "rules", filepath.Base(rulesTestFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// readmeYAML are the yaml blocks of the README's Prometheus walk-through.
func readmeYAML(t *testing.T) []string {
	t.Helper()
	readme := readFile(t, "../README.md")
	const heading = "## Prometheus: every mailbox"
	i := strings.Index(readme, heading)
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	section := readme[i+len(heading):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// The README's exporter config is one the exporter takes.
func TestReadmeExporterConfig(t *testing.T) {
	blocks := readmeYAML(t)
	if len(blocks) == 0 || !strings.HasPrefix(blocks[0], "targets:") {
		t.Fatal("the README's Prometheus section does not start with the exporter's config")
	}
	secret := filepath.Join(t.TempDir(), "shared_key")
	if err := os.WriteFile(secret, []byte("key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := exporter.Parse([]byte(strings.ReplaceAll(blocks[0], "/run/secrets/mesh_shared_key", secret)), t.TempDir(),
		func(string) string { return "set" })
	if err != nil {
		t.Fatalf("the README's exporter config: %v", err)
	}
	if len(cfg.Targets) < 2 {
		t.Fatalf("%d targets, want a few", len(cfg.Targets))
	}
}

// Every Prometheus config the README shows (the scrape config, a shard,
// the federation) is one Prometheus accepts, with the shipped rules.
func TestReadmePrometheusConfigsPassPromtool(t *testing.T) {
	lookTool(t, "promtool")
	blocks := readmeYAML(t)
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, block := range blocks {
		if !strings.Contains(block, "scrape_configs:") {
			continue
		}
		n++
		path := filepath.Join(dir, fmt.Sprintf("prometheus-%d.yml", n))
		cfg := strings.ReplaceAll(block, "/etc/prometheus/meshdoctor-rules.yml", rules)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		runTool(t, dir, "promtool", "check", "config", path)
	}
	if n < 3 {
		t.Fatalf("found %d Prometheus configs in the README's section, want the scrape config, a shard and the federation", n)
	}
}

var (
	alertDecl = regexp.MustCompile(`(?m)^\s*- alert: (\S+)\s*$`)
	alertTest = regexp.MustCompile(`(?m)^\s*alertname: (\S+)\s*$`)
	// An alert fires in a test when an expected alert follows its name.
	alertFires = regexp.MustCompile(`(?m)^\s*alertname: (\S+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels:`)
	severity   = regexp.MustCompile(`(?m)^\s*severity: (\S+)\s*$`)
)

// Every alert has a promtool test in which it fires (promtool compares the
// labels and rendered annotations exactly, and fails on any alert a test
// does not list, so the series beside that must not fire are tested too).
func TestEveryAlertIsUnitTested(t *testing.T) {
	rules := readFile(t, rulesFile)
	tests := readFile(t, rulesTestFile)
	declared := uniq(submatches(alertDecl, rules))
	if len(declared) == 0 {
		t.Fatalf("no alerts found in %s", rulesFile)
	}
	tested := uniq(submatches(alertTest, tests))
	fires := uniq(submatches(alertFires, tests))
	for _, name := range declared {
		if !slices.Contains(fires, name) {
			t.Errorf("alert %s has no promtool test in which it fires", name)
		}
	}
	for _, name := range tested {
		if !slices.Contains(declared, name) {
			t.Errorf("%s tests alert %s, which %s does not declare", rulesTestFile, name, rulesFile)
		}
	}
	for _, s := range submatches(severity, rules) {
		if s != "warning" && s != "critical" {
			t.Errorf("severity %q: the rules use warning and critical only", s)
		}
	}
	// Each rule says what happened and what to do.
	for _, rule := range splitRules(rules) {
		if !strings.Contains(rule, "summary:") || !strings.Contains(rule, "description:") {
			t.Errorf("rule without a summary and a description:\n%s", rule)
		}
	}
}

// splitRules cuts the rules file at each "- alert:", for per-rule checks;
// a YAML alias (annotations: *name) counts as the annotations it names.
func splitRules(rules string) []string {
	anchors := map[string]string{}
	parts := alertDecl.Split(rules, -1)[1:]
	for _, p := range parts {
		if m := regexp.MustCompile(`annotations: &(\S+)`).FindStringSubmatch(p); m != nil {
			anchors[m[1]] = p
		}
	}
	for i, p := range parts {
		if m := regexp.MustCompile(`annotations: \*(\S+)`).FindStringSubmatch(p); m != nil {
			parts[i] = p + anchors[m[1]]
		}
	}
	return parts
}

// dashboard is the part of Grafana's JSON model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Repeat     string `json:"repeat"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// dashboardQueries is every PromQL expression of the dashboard: the panels'
// and the template variables' label_values() selectors.
func dashboardQueries(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title+"/"+tg.RefID] = tg.Expr
		}
	}
	return out
}

// The dashboard imports as Grafana expects and its every query reads only
// metrics the exporter serves (see knownMetrics), with variables it defines.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("dashboard without uid or title")
	}
	known := knownMetrics(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			// Grafana's label_values(SELECTOR, LABEL): the selector is PromQL.
			expr, _ := q["query"].(string)
			m := regexp.MustCompile(`^label_values\((.*), *(\w+)\)$`).FindStringSubmatch(expr)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, expr)
				continue
			}
			checkMetricNames(t, "variable "+v.Name, m[1], known)
		}
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("no %q variable", want)
		}
	}
	ids := map[int]bool{}
	repeated := false
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			repeated = repeated || p.Repeat == "instance"
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
	}
	if !repeated {
		t.Error("no row repeats per target (repeat: instance)")
	}
	for where, expr := range dashboardQueries(t, d) {
		if strings.TrimSpace(expr) == "" {
			t.Errorf("%s: empty query", where)
			continue
		}
		for _, v := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(expr, -1) {
			if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
				t.Errorf("%s: %s uses $%s, which the dashboard does not define", where, expr, v[1])
			}
		}
		checkMetricNames(t, where, expr, known)
	}
}

// The rules read only metrics the exporter serves, too.
func TestRulesUseKnownMetrics(t *testing.T) {
	known := knownMetrics(t)
	for _, r := range ruleExprs(t) {
		checkMetricNames(t, r.alert, r.expr, known)
	}
}

type ruleExpr struct{ alert, expr string }

// ruleExprs reads each rule's expression from the shipped rules file.
func ruleExprs(t *testing.T) []ruleExpr {
	t.Helper()
	var out []ruleExpr
	rules := readFile(t, rulesFile)
	names := submatches(alertDecl, rules)
	for n, rule := range splitRules(rules) {
		lines := strings.Split(rule, "\n")
		for i, l := range lines {
			s := strings.TrimSpace(l)
			if !strings.HasPrefix(s, "expr:") {
				continue
			}
			expr := strings.TrimSpace(strings.TrimPrefix(s, "expr:"))
			if expr == "|" {
				var b []string
				for _, more := range lines[i+1:] {
					if m := strings.TrimSpace(more); strings.HasPrefix(m, "for:") || strings.HasPrefix(m, "labels:") {
						break
					}
					b = append(b, strings.TrimSpace(more))
				}
				expr = strings.TrimSpace(strings.Join(b, " "))
			}
			out = append(out, ruleExpr{names[n], expr})
			break
		}
	}
	if len(out) == 0 {
		t.Fatal("no expressions in the rules file")
	}
	return out
}

// promqlWords are the PromQL words (functions, operators, modifiers) and
// label names the shipped queries may use beside metric names.
var promqlWords = map[string]bool{
	"sum": true, "rate": true, "topk": true, "time": true, "abs": true, "by": true, "on": true, "and": true,
	"or": true, "unless": true, "group": true, "max": true, "min": true, "count": true, "label_values": true,
	"job": true, "instance": true, "module": true, "result": true, "check": true, "status": true, "role": true,
	"subject": true,
}

var (
	quoted  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	ranges  = regexp.MustCompile(`\[[^\]]*\]`)
	varRefs = regexp.MustCompile(`\$\w+`)
	words   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// checkMetricNames fails for any word of expr that is neither a PromQL word
// nor a metric the exporter serves: a renamed metric or a typo makes a panel
// or an alert silently empty, which no one would notice until it mattered.
func checkMetricNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	bare := quoted.ReplaceAllString(expr, `""`)
	bare = ranges.ReplaceAllString(bare, "")
	bare = varRefs.ReplaceAllString(bare, "")
	bare = regexp.MustCompile(`\d+(\.\d+)?(e\d+)?`).ReplaceAllString(bare, "")
	for _, w := range words.FindAllString(bare, -1) {
		if promqlWords[w] {
			continue
		}
		if !known[w] {
			t.Errorf("%s: %q reads %s, which the exporter does not serve", where, expr, w)
		}
	}
}

// metricsMD are the names agreed for the exporter (the README's list): the
// per-probe metrics on /probe and the exporter's own on /metrics, plus
// Prometheus's up.
var metricsMD = []string{
	"up",
	"probe_success", "probe_duration_seconds",
	"meshdoctor_check_status", "meshdoctor_check_duration_seconds",
	"meshdoctor_certificate_expiry_timestamp_seconds", "meshdoctor_clock_offset_seconds",
	"meshdoctor_inbox_messages", "meshdoctor_inbox_oldest_message_age_seconds",
	"meshdoctor_roundtrip_success", "meshdoctor_roundtrip_duration_seconds", "meshdoctor_roundtrip_result_age_seconds",
	"meshdoctor_exporter_probes_total", "meshdoctor_exporter_probe_duration_seconds",
	"meshdoctor_exporter_probe_cache_hits_total", "meshdoctor_exporter_config_last_reload_successful",
	"meshdoctor_exporter_config_last_reload_success_timestamp_seconds", "meshdoctor_exporter_targets",
	"meshdoctor_build_info",
}

func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range metricsMD {
		out[m] = true
	}
	return out
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func submatches(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func uniq(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}
