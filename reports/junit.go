package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
)

// The JUnit document is written for the strictest consumer in common use:
// the schema Jenkins' xunit plugin validates against (junit-10.xsd). So: no
// status or properties on a testcase, no disabled on a testsuite, nothing but
// name, time, tests, failures and errors on testsuites, and every time in
// seconds with at most three decimals. GitLab and Jenkins' junit step read a
// subset of the same.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	SystemOut *junitText    `xml:"system-out"`
}

// junitMessage is a failure, error or skip. Its text is CDATA, so the file
// stays readable: line breaks stay line breaks.
type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

// xmlSafe replaces the characters XML 1.0 cannot hold at all, even escaped
// (most control characters, say from a server's answer), with U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

// junitTime is a duration in seconds with three decimals, as junit-10.xsd
// and Surefire write it.
func junitTime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%.3f", d.Seconds())
}

// junitCaseFor is one check's testcase: the title as its name (what CI shows
// a person), the stable ID as its classname (what CI groups and tracks).
func junitCaseFor(res checks.Result) junitCase {
	c := junitCase{Name: xmlSafe(res.Title), Classname: xmlSafe(res.ID), Time: junitTime(res.Duration)}
	if c.Name == "" {
		c.Name = c.Classname
	}
	res.Summary, res.Remediation = xmlSafe(res.Summary), xmlSafe(res.Remediation)
	var out strings.Builder
	switch res.Status {
	case checks.Fail:
		c.Failure = &junitMessage{Message: res.Summary, Type: "fail", Text: withFix(res.Summary, res.Remediation)}
	case checks.Error:
		c.Error = &junitMessage{Message: res.Summary, Type: "error", Text: withFix(res.Summary, res.Remediation)}
	case checks.Skip:
		c.Skipped = &junitMessage{Message: res.Summary, Text: res.Summary}
	case checks.Warn:
		// A warning does not fail the case, but CI must still show it.
		fmt.Fprintf(&out, "WARNING: %s\n", res.Summary)
		if res.Remediation != "" {
			fmt.Fprintf(&out, "fix: %s\n", res.Remediation)
		}
	}
	fmt.Fprintf(&out, "%s %s: %s\n", strings.ToUpper(string(res.Status)), res.ID, res.Summary)
	for _, f := range res.Evidence {
		fmt.Fprintf(&out, "%s: %s\n", f.Key, f.Value)
	}
	c.SystemOut = &junitText{xmlSafe(out.String())}
	return c
}

func withFix(summary, fix string) string {
	if fix == "" {
		return summary
	}
	return summary + "\n\nfix: " + fix
}

// runProperties are the run's facts every suite carries: where, how and
// with what it was checked.
func runProperties(r *Run) []junitProperty {
	t := r.Target
	props := []junitProperty{
		{"meshdoctor.version", xmlSafe(r.Tool.Version)},
		{"meshdoctor.command", xmlSafe(r.Command)},
	}
	add := func(name, value string) {
		if value != "" {
			props = append(props, junitProperty{name, xmlSafe(value)})
		}
	}
	add("environment", t.Environment)
	route := t.Route
	if route == "" && t.Environment != "" {
		route = "internet"
	}
	add("route", route)
	add("base_url", t.BaseURL)
	add("mailbox", t.Mailbox)
	if t.Sandbox {
		add("sandbox", "embedded")
	}
	add("started", r.Started.UTC().Format(time.RFC3339))
	return props
}

// checksSuite is the testsuite of the checks.
func checksSuite(r *Run) junitSuite {
	s := junitSuite{
		Name:       "meshdoctor checks",
		Timestamp:  r.Started.UTC().Format("2006-01-02T15:04:05"),
		Properties: runProperties(r),
	}
	var total time.Duration
	for _, res := range r.Checks {
		s.Cases = append(s.Cases, junitCaseFor(res))
		total += res.Duration
		switch res.Status {
		case checks.Fail:
			s.Failures++
		case checks.Error:
			s.Errors++
		case checks.Skip:
			s.Skipped++
		}
	}
	s.Tests = len(s.Cases)
	// Checks run concurrently: the suite took the run's wall time, not the
	// sum of its cases.
	if len(r.Checks) > 0 {
		total = r.Duration
	}
	s.Time = junitTime(total)
	return s
}

// WriteJUnit writes the run as one JUnit XML document: a testsuite for the
// checks and, when the run had them, one for the conformance specs.
func WriteJUnit(w io.Writer, r *Run) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		doc := junitSuites{Name: "meshdoctor " + xmlSafe(r.Command), Time: junitTime(r.Duration)}
		if len(r.Checks) > 0 || r.Conformance == nil {
			// 'conform' runs no check: no empty suite for it.
			doc.Suites = append(doc.Suites, checksSuite(r))
		}
		doc.Suites = append(doc.Suites, conformanceSuites(r)...)
		for _, s := range doc.Suites {
			doc.Tests += s.Tests
			doc.Failures += s.Failures
			doc.Errors += s.Errors
		}
		b.WriteString(xml.Header)
		enc := xml.NewEncoder(b)
		enc.Indent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("write JUnit: %w", err)
		}
		b.WriteString("\n")
		return nil
	})
}
