package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/meshdoctor/meshdoctor/suites"
)

var specMarks = map[string]struct{ word, color string }{
	suites.StatusPassed:  {"PASS", "\x1b[32m"},
	suites.StatusFailed:  {"FAIL", "\x1b[31m"},
	suites.StatusSkipped: {"SKIP", "\x1b[90m"},
	suites.StatusPending: {"SKIP", "\x1b[90m"},
}

// specMark is the status word of a spec: PASS, FAIL, SKIP, or Ginkgo's
// state in capitals for a spec that could not finish (PANICKED,
// INTERRUPTED, ABORTED, TIMEDOUT).
func specMark(status string, color bool) string {
	m, ok := specMarks[status]
	if !ok {
		m = struct{ word, color string }{strings.ToUpper(status), "\x1b[35m"}
	}
	word := fmt.Sprintf("%-5s", m.word)
	if color {
		word = m.color + word + "\x1b[0m"
	}
	return word
}

// WriteConformanceLine writes one spec's result: a status mark, the ID and
// the MUST sentence; the reason under anything that did not pass; the
// recorded entries when verbose or failed.
func WriteConformanceLine(w io.Writer, sp suites.Spec, o TextOptions) {
	lines := wrap(sp.Text, 80)
	if len(lines) == 0 {
		lines = []string{""}
	}
	fmt.Fprintf(w, "  %s %-19s %s\n", specMark(sp.Status, o.Color), sp.ID, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "  %5s %-19s %s\n", "", "", l)
	}
	bad := sp.Status != suites.StatusPassed && sp.Status != suites.StatusSkipped && sp.Status != suites.StatusPending
	if sp.Failure != "" && sp.Status != suites.StatusPassed {
		lead := "why:"
		for i, l := range wrap(sp.Failure, 90) {
			if i > 0 {
				lead = ""
			}
			fmt.Fprintf(w, "        %-4s %s\n", lead, l)
		}
	}
	if o.Verbose || bad {
		for _, e := range sp.Entries {
			fmt.Fprintf(w, "        %s: %s\n", e.Name, e.Value)
		}
	}
}

// WriteConformance writes the conformance part of a report: a line per
// spec, what the clean-up did, and the closing summary line.
func WriteConformance(w io.Writer, c *suites.Report, o TextOptions) error {
	for _, sp := range c.Specs {
		if sp.Selected || sp.Status != suites.StatusSkipped {
			WriteConformanceLine(w, sp, o)
		}
	}
	fmt.Fprintln(w)
	for _, s := range c.Setup {
		fmt.Fprintf(w, "  suite: %s\n", s)
	}
	for _, l := range cleanupLines(c, o.Verbose) {
		fmt.Fprintln(w, l)
	}
	_, err := fmt.Fprintln(w, c.Summary.Line())
	return err
}
