package reports

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
)

// report.html.tmpl is one self-contained page: inline CSS, no script, no font
// or image from anywhere, so it reads offline, in an archive, years later,
// and prints to PDF from any browser.
//
//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"word":  statusWord,
	"upper": strings.ToUpper,
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"secs":  junitTime,
	"lines": func(s string) []string { return strings.Split(s, "\n") },
}).Parse(htmlSource))

// statusWord is a status as a report states it.
func statusWord(s checks.Status) string {
	switch s {
	case checks.Pass:
		return "passed"
	case checks.Warn:
		return "warning"
	case checks.Fail:
		return "failed"
	case checks.Skip:
		return "skipped"
	case checks.Error:
		return "could not judge"
	}
	return string(s)
}

// htmlView is what the template reads: the run plus what a reviewer needs
// spelled out.
type htmlView struct {
	*Run
	Where       string
	Environment string
	Route       string
	Verdict     string
	VerdictOK   bool
	Conformance []htmlSpec
	Counts      string
	// ConformanceCounts and Cleanup summarise the conformance run.
	ConformanceCounts string
	Cleanup           string
	Setup             []string
}

// WriteHTML writes the run as a self-contained HTML evidence report: the
// summary first (target, environment, route, when, tool version, verdict),
// then each check with its evidence and remediation, then the conformance
// catalogue with its results. Every value is escaped by html/template.
func WriteHTML(w io.Writer, r *Run) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		return htmlTemplate.Execute(b, newHTMLView(r.mapTexts(printable)))
	})
}

func newHTMLView(r *Run) htmlView {
	v := htmlView{Run: r, Where: r.Target.BaseURL, Environment: r.Target.Environment, Route: r.Target.Route, VerdictOK: r.Summary.OK}
	if r.Target.Sandbox {
		v.Where += " (meshdoctor's embedded sandbox)"
	}
	switch {
	case v.Environment != "":
	case r.Target.Sandbox:
		v.Environment = "none: meshdoctor's embedded sandbox"
	default:
		v.Environment = "none named (a URL was given)"
	}
	if v.Route == "" {
		v.Route = "internet"
		if r.Target.Environment == "" {
			v.Route = "direct to the URL"
		}
	}
	v.Verdict = "FAILED"
	if r.Summary.OK {
		v.Verdict = "PASSED"
	}
	v.Counts = r.Summary.Line()
	v.Conformance = conformanceHTML(r)
	if c := r.Conformance; c != nil {
		v.ConformanceCounts = c.Summary.Line()
		v.Cleanup = strings.TrimSpace(cleanupText(c))
		v.Setup = c.Setup
	}
	if len(r.Checks) > 0 && r.Conformance != nil {
		v.Counts = "checks: " + r.Summary.Line() + "; conformance: " + r.Conformance.Summary.Line()
	} else if r.Conformance != nil && len(r.Checks) == 0 {
		v.Counts = r.Conformance.Summary.Line()
	}
	return v
}
