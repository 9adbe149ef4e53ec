package reports

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/suites"
)

// The conformance results as each writer shows them. The text lines are
// conformance.go's; these are the JUnit suite, the HTML catalogue, the log
// and the copy with its texts mapped (redacted, made printable).

// specBad reports whether a spec ran and did not pass: failed, or stopped
// before a verdict (panicked, interrupted, aborted, timed out).
func specBad(status string) bool {
	switch status {
	case suites.StatusPassed, suites.StatusSkipped, suites.StatusPending:
		return false
	}
	return true
}

// conformanceSuites is the JUnit testsuite of the conformance specs: the
// MUST sentence as the test name, the spec ID as its classname. The whole
// catalogue is listed, specs the label filter left out as skipped with that
// reason, so CI shows what was not proven; suite set-up failures are an
// error case of their own, so CI shows them.
func conformanceSuites(r *Run) []junitSuite {
	c := r.Conformance
	if c == nil {
		return nil
	}
	s := junitSuite{
		Name:       "meshdoctor conformance",
		Timestamp:  c.Started.UTC().Format("2006-01-02T15:04:05"),
		Time:       junitTime(c.Duration),
		Properties: runProperties(r),
	}
	if c.Duration == 0 {
		s.Time = junitTime(time.Duration(c.DurationMS) * time.Millisecond)
	}
	for _, sp := range c.Specs {
		tc := junitCase{Name: xmlSafe(sp.Text), Classname: xmlSafe(sp.ID), Time: junitTime(time.Duration(sp.DurationMS) * time.Millisecond)}
		if tc.Name == "" {
			tc.Name = tc.Classname
		}
		failure := xmlSafe(sp.Failure)
		var out strings.Builder
		fmt.Fprintf(&out, "%s %s: %s\n", strings.ToUpper(sp.Status), sp.ID, sp.Text)
		if len(sp.Labels) > 0 {
			fmt.Fprintf(&out, "labels: %s\n", strings.Join(sp.Labels, ", "))
		}
		switch {
		case sp.Status == suites.StatusPassed:
		case sp.Status == suites.StatusFailed:
			s.Failures++ // a failure: the server broke a MUST
			tc.Failure = &junitMessage{Message: failure, Type: sp.Status, Text: failure}
		case specBad(sp.Status): // panicked, interrupted, aborted, timedout: no verdict
			s.Errors++
			tc.Error = &junitMessage{Message: failure, Type: sp.Status, Text: failure}
		default:
			s.Skipped++
			reason := failure
			if reason == "" {
				reason = sp.Status
			}
			tc.Skipped = &junitMessage{Message: reason, Text: reason}
		}
		for _, e := range sp.Entries {
			fmt.Fprintf(&out, "%s: %s\n", e.Name, e.Value)
		}
		tc.SystemOut = &junitText{xmlSafe(out.String())}
		s.Cases = append(s.Cases, tc)
	}
	for i, setup := range c.Setup {
		s.Errors++
		msg := xmlSafe(setup)
		s.Cases = append(s.Cases, junitCase{
			Name: "Suite set-up and tear-down", Classname: fmt.Sprintf("conformance.setup-%d", i+1), Time: junitTime(0),
			Error: &junitMessage{Message: msg, Type: "setup", Text: msg},
		})
	}
	s.Tests = len(s.Cases)
	s.SystemOut = &junitText{xmlSafe(cleanupText(c))}
	return []junitSuite{s}
}

// cleanupText says what the suites sent and left behind, what else waits
// in the inbox, and the one cause behind every failure when there was one.
func cleanupText(c *suites.Report) string {
	var b strings.Builder
	for _, l := range cleanupLines(c, true) {
		b.WriteString(strings.TrimSpace(l))
		b.WriteString("\n")
	}
	return b.String()
}

// cleanupLines are cleanupText's lines, indented for the terminal; notes
// only when asked for.
func cleanupLines(c *suites.Report, notes bool) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if c.RootCause != "" {
		add("Root cause: %s", c.RootCause)
	}
	cl := c.Cleanup
	line := fmt.Sprintf("Clean-up: %d message(s) sent, %d acknowledged", cl.Sent, cl.Acknowledged)
	if cl.Drained > 0 {
		line += fmt.Sprintf("; %d message(s) of earlier runs acknowledged", cl.Drained)
	}
	if cl.Abandoned {
		line += "; stopped by a second interrupt"
	}
	if c.RunID != "" {
		line += " (run " + c.RunID + ")"
	}
	add("%s", line)
	for _, l := range cl.Leftovers {
		add("  left in the inbox: %s", l)
	}
	if cl.Remove != "" {
		add("  to remove them: %s", cl.Remove)
	}
	for _, id := range cl.Incomplete {
		add("  upload stopped before its last chunk (never delivered, MESH discards it): %s", id)
	}
	if l := cl.Earlier.Line(c.Started); l != "" {
		add("  earlier runs: %s", l)
	}
	if cl.Earlier != nil {
		for _, a := range cl.Earlier.Acknowledged {
			add("    acknowledged: %s", a)
		}
		for _, r := range cl.Earlier.Refused {
			add("    refused: %s", r)
		}
	}
	if cl.Untouched > 0 {
		add("  %d other message(s) in the inbox are not this run's: never downloaded or acknowledged", cl.Untouched)
	}
	if notes {
		for _, n := range cl.Notes {
			add("  note: %s", n)
		}
	}
	return out
}

// htmlSpec is one spec of the catalogue as the HTML report lists it.
type htmlSpec struct {
	ID, Text, Status, Class, Failure, Duration string
	Labels                                     []string
	Entries                                    []suites.Entry
}

// conformanceHTML is the whole catalogue with the run's results, specs the
// filter left out marked so.
func conformanceHTML(r *Run) []htmlSpec {
	if r.Conformance == nil {
		return nil
	}
	var out []htmlSpec
	for _, sp := range r.Conformance.Specs {
		h := htmlSpec{ID: sp.ID, Text: sp.Text, Status: sp.Status, Failure: sp.Failure, Labels: sp.Labels, Entries: sp.Entries,
			Duration: junitTime(time.Duration(sp.DurationMS) * time.Millisecond)}
		switch {
		case sp.Status == suites.StatusPassed:
			h.Class = "pass"
		case sp.Status == suites.StatusFailed:
			h.Class = "fail"
		case specBad(sp.Status):
			h.Class = "error"
		default:
			h.Class = "skip"
		}
		if h.Class == "skip" {
			h.Duration = "" // it did not run
		}
		if !sp.Selected && sp.Status == suites.StatusSkipped {
			h.Status, h.Failure = "not selected", ""
		}
		out = append(out, h)
	}
	return out
}

// writeConformanceLog logs the run's conformance specs.
func writeConformanceLog(b *bytes.Buffer, r *Run) {
	c := r.Conformance
	if c == nil {
		return
	}
	fmt.Fprintf(b, "%s conformance started\n", c.Started.UTC().Format(time.RFC3339Nano))
	for _, sp := range c.Specs {
		if !sp.Selected && sp.Status == suites.StatusSkipped {
			continue
		}
		fmt.Fprintf(b, "spec %s %s in %ss: %s\n", sp.ID, sp.Status, junitTime(time.Duration(sp.DurationMS)*time.Millisecond), sp.Text)
		if sp.Failure != "" {
			fmt.Fprintf(b, "  why: %s\n", sp.Failure)
		}
		for _, e := range sp.Entries {
			fmt.Fprintf(b, "  %s: %s\n", e.Name, e.Value)
		}
	}
	for _, s := range c.Setup {
		fmt.Fprintf(b, "suite: %s\n", s)
	}
	for _, line := range strings.Split(strings.TrimRight(cleanupText(c), "\n"), "\n") {
		fmt.Fprintf(b, "%s\n", line)
	}
	fmt.Fprintf(b, "conformance: %s\n", c.Summary.Line())
}

// mapConformanceTexts gives r a copy of its conformance report with fn
// applied to each text (the original is left as it was).
func mapConformanceTexts(r *Run, fn func(string) string) {
	if r.Conformance == nil {
		return
	}
	c := *r.Conformance
	c.Specs = make([]suites.Spec, len(r.Conformance.Specs))
	for i, sp := range r.Conformance.Specs {
		sp.ID, sp.Text, sp.Failure = fn(sp.ID), fn(sp.Text), fn(sp.Failure)
		sp.Labels = mapStrings(sp.Labels, fn)
		if sp.Entries != nil {
			entries := make([]suites.Entry, len(sp.Entries))
			for j, e := range sp.Entries {
				entries[j] = suites.Entry{Name: fn(e.Name), Value: fn(e.Value)}
			}
			sp.Entries = entries
		}
		c.Specs[i] = sp
	}
	c.Setup = mapStrings(c.Setup, fn)
	c.RootCause = fn(c.RootCause)
	c.Cleanup.Leftovers = mapStrings(c.Cleanup.Leftovers, fn)
	c.Cleanup.Remove = fn(c.Cleanup.Remove)
	c.Cleanup.Notes = mapStrings(c.Cleanup.Notes, fn)
	if er := c.Cleanup.Earlier; er != nil {
		cp := *er
		cp.Acknowledged, cp.Refused = mapStrings(er.Acknowledged, fn), mapStrings(er.Refused, fn)
		c.Cleanup.Earlier = &cp
	}
	r.Conformance = &c
}

func mapStrings(in []string, fn func(string) string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = fn(s)
	}
	return out
}
