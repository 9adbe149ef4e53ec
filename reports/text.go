package reports

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/meshdoctor/meshdoctor/checks"
)

// TextOptions shape the terminal report.
type TextOptions struct {
	// Verbose shows every check's evidence, not only that of failures.
	Verbose bool
	// Color marks statuses with ANSI colours (only on a terminal, never with
	// NO_COLOR: the caller decides).
	Color bool
}

var marks = map[checks.Status]struct{ word, color string }{
	checks.Pass:  {"PASS", "\x1b[32m"},
	checks.Warn:  {"WARN", "\x1b[33m"},
	checks.Fail:  {"FAIL", "\x1b[31m"},
	checks.Skip:  {"SKIP", "\x1b[90m"},
	checks.Error: {"ERROR", "\x1b[35m"},
}

// Heading is the line that says what is being checked.
func Heading(r *Run) string {
	t := r.Target
	where := t.BaseURL
	if t.Environment != "" {
		route := t.Route
		if route == "" {
			route = "internet"
		}
		where = fmt.Sprintf("%s over %s (%s)", t.Environment, route, t.BaseURL)
	}
	if t.Sandbox {
		where = "the embedded sandbox at " + t.BaseURL
	}
	who := ""
	if t.Mailbox != "" {
		who = " as mailbox " + t.Mailbox
	}
	return fmt.Sprintf("meshdoctor %s %s: %s%s", r.Tool.Version, r.Command, where, who)
}

// WriteCheckLine writes one check's result: a status mark, the ID and the
// summary; the remediation under anything not passed; the evidence when
// verbose or failed.
// It writes as given, unredacted: a command that streams lines as checks
// finish writes them through Run.Redactor().Writer(w).
func WriteCheckLine(w io.Writer, res checks.Result, o TextOptions) {
	m := marks[res.Status]
	word := fmt.Sprintf("%-5s", m.word)
	if o.Color {
		word = m.color + word + "\x1b[0m"
	}
	fmt.Fprintf(w, "  %s %-20s %s\n", word, res.ID, res.Summary)
	if res.Remediation != "" && res.Status != checks.Pass && res.Status != checks.Skip {
		for i, line := range wrap(res.Remediation, 90) {
			lead := "fix:"
			if i > 0 {
				lead = ""
			}
			fmt.Fprintf(w, "        %-4s %s\n", lead, line)
		}
	}
	if o.Verbose || res.Status.Failed() {
		for _, f := range res.Evidence {
			fmt.Fprintf(w, "        %s: %s\n", f.Key, f.Value)
		}
	}
}

// WriteText writes the whole run for a person: heading, a line per check
// and the checks' summary line; then, when specs ran, a line per spec, the
// clean-up and the specs' summary line, and the closing line of both.
func WriteText(w io.Writer, r *Run, o TextOptions) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		r = r.mapTexts(printable)
		fmt.Fprintln(b, Heading(r))
		fmt.Fprintln(b)
		c := r.Conformance
		if c == nil || len(r.Checks) > 0 {
			if c != nil {
				fmt.Fprintln(b, "Checks")
			}
			for _, res := range r.Checks {
				WriteCheckLine(b, res, o)
			}
			fmt.Fprintln(b)
			fmt.Fprintln(b, r.Summary.Line())
		}
		if c == nil {
			return nil
		}
		if len(r.Checks) > 0 {
			fmt.Fprintln(b)
		}
		if c.Summary.Skipped == c.Summary.Total && c.Summary.Total > 0 {
			// Nothing ran: one line, with the reason, rather than a skip per spec.
			fmt.Fprintf(b, "Conformance: %d specs %s\n", c.Summary.Total, c.Specs[0].Failure)
		} else {
			if len(r.Checks) > 0 {
				fmt.Fprintln(b, "Conformance")
			}
			if err := WriteConformance(b, c, o); err != nil {
				return err
			}
		}
		fmt.Fprintln(b)
		fmt.Fprintln(b, r.Line())
		return nil
	})
}

// Line is the run's closing line: the checks' summary line or, with
// conformance, checks and specs together in the words of the checks' line.
// A spec stopped by the interrupt is counted as the conformance line counts
// it ("N stopped by the interrupt"), not as failed; specs the filter left
// out are not counted.
func (r *Run) Line() string {
	if r.Conformance == nil {
		return checks.Summarize(r.Checks).Line()
	}
	s, c := checks.Summarize(r.Checks), r.Conformance.Summary
	stopped := c.Interrupted + c.Aborted
	s.Passed += c.Passed
	s.Failed += c.Bad() - stopped
	s.Skipped += c.Skipped + c.Pending - c.NotSelected
	line := s.Line()
	if stopped > 0 {
		line += fmt.Sprintf(", %d stopped by the interrupt", stopped)
	}
	return line
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		line := ""
		for _, word := range words {
			if line != "" && len(line)+1+len(word) > width {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}
