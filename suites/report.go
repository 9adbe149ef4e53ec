package suites

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onsi/ginkgo/v2/types"
)

// Report is the outcome of one run: a line per spec, a summary, and what
// the clean-up did.
type Report struct {
	// RunID is the run's identity: it is in the local ID and subject of
	// every message the run sent, and the clean-up acknowledges only
	// messages that carry it and come from the run's own mailbox.
	RunID   string        `json:"run_id,omitempty"`
	Specs   []Spec        `json:"specs"`
	Summary Summary       `json:"summary"`
	Cleanup CleanupReport `json:"cleanup"`
	// RootCause is one line naming what made every request fail the same
	// way (5xx to everything, a connection that keeps dropping, a server
	// gone mid-run), with the specs it took down counted; empty otherwise.
	RootCause string `json:"root_cause,omitempty"`
	// Setup holds failures outside the specs (suite set-up and tear-down).
	Setup      []string      `json:"setup,omitempty"`
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"-"`
	DurationMS int64         `json:"duration_ms"`
}

// Spec is one spec's result.
type Spec struct {
	ID     string   `json:"id"`
	Text   string   `json:"text"`
	Labels []string `json:"labels"`
	// Status is Ginkgo's state name: passed, failed, skipped, pending,
	// panicked, interrupted, aborted or timedout.
	Status string `json:"status"`
	// Selected is false for a spec the label filter or focus left out
	// (its status is then skipped).
	Selected   bool    `json:"selected"`
	Failure    string  `json:"failure,omitempty"`
	DurationMS int64   `json:"duration_ms"`
	Entries    []Entry `json:"entries"`
}

// Entry is a fact a spec recorded about what the server did (the
// message id format, the API shape, a status code).
type Entry struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Spec statuses, in Ginkgo's names.
const (
	StatusPassed      = "passed"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusPending     = "pending"
	StatusPanicked    = "panicked"
	StatusInterrupted = "interrupted"
	StatusAborted     = "aborted"
	StatusTimedout    = "timedout"
)

// Summary counts the specs by status. OK is true when at least one spec
// passed and none failed in any way: no spec run is not a pass.
type Summary struct {
	Total       int `json:"total"`
	Passed      int `json:"passed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Pending     int `json:"pending"`
	Panicked    int `json:"panicked"`
	Interrupted int `json:"interrupted"`
	Aborted     int `json:"aborted"`
	Timedout    int `json:"timedout"`
	// NotSelected counts the skipped specs the filter left out.
	NotSelected int  `json:"not_selected"`
	OK          bool `json:"ok"`
}

// Bad is how many specs ran and did not pass.
func (s Summary) Bad() int { return s.Failed + s.Panicked + s.Interrupted + s.Aborted + s.Timedout }

// Line is the closing summary line.
func (s Summary) Line() string {
	stopped := s.Interrupted + s.Aborted
	line := fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Bad()-stopped, s.Skipped+s.Pending-s.NotSelected)
	if stopped > 0 {
		line += fmt.Sprintf(", %d stopped by the interrupt", stopped)
	}
	if s.NotSelected > 0 {
		line += fmt.Sprintf(", %d not selected", s.NotSelected)
	}
	if s.Passed+s.Bad() == 0 {
		line += " (no spec ran)"
	}
	return line
}

func summarize(specs []Spec) Summary {
	var s Summary
	for _, sp := range specs {
		s.Total++
		switch sp.Status {
		case StatusPassed:
			s.Passed++
		case StatusFailed:
			s.Failed++
		case StatusSkipped:
			s.Skipped++
			if !sp.Selected {
				s.NotSelected++
			}
		case StatusPending:
			s.Pending++
		case StatusPanicked:
			s.Panicked++
		case StatusInterrupted:
			s.Interrupted++
		case StatusAborted:
			s.Aborted++
		case StatusTimedout:
			s.Timedout++
		}
	}
	s.OK = s.Passed > 0 && s.Bad() == 0
	return s
}

// splitText cuts "MESH-SEND-001 MESH MUST …" into the ID and the sentence.
func splitText(text string) (id, must string) {
	id, must, _ = strings.Cut(text, " ")
	return id, strings.TrimSpace(must)
}

func isSpec(sr types.SpecReport) bool { return sr.LeafNodeType == types.NodeTypeIt }

// selector tells the specs a run selected, as Ginkgo does: the label
// filter on the spec's labels, the focus on its full text.
type selector struct {
	labelFilter string
	focus       []*regexp.Regexp
}

func newSelector(labelFilter string, focus []string) selector {
	s := selector{labelFilter: labelFilter}
	for _, f := range focus {
		if re, err := regexp.Compile(f); err == nil {
			s.focus = append(s.focus, re)
		}
	}
	return s
}

func (s selector) selected(sr types.SpecReport) bool {
	if s.labelFilter != "" {
		if ok, err := sr.MatchesLabelFilter(s.labelFilter); err != nil || !ok {
			return false
		}
	}
	if len(s.focus) == 0 {
		return true
	}
	for _, re := range s.focus {
		if re.MatchString(sr.FullText()) {
			return true
		}
	}
	return false
}

// newReport turns Ginkgo's report into ours.
func newReport(r types.Report, sel selector) *Report {
	out := &Report{Started: r.StartTime, Duration: r.RunTime, DurationMS: r.RunTime.Milliseconds()}
	for _, sr := range r.SpecReports {
		if !isSpec(sr) {
			if sr.State.Is(types.SpecStateFailureStates) {
				out.Setup = append(out.Setup, fmt.Sprintf("%s: %s", sr.LeafNodeType, oneLine(sr.Failure.Message)))
			}
			continue
		}
		id, must := splitText(sr.LeafNodeText)
		sp := Spec{
			ID:         id,
			Text:       must,
			Labels:     sr.Labels(),
			Status:     sr.State.String(),
			Selected:   sel.selected(sr),
			DurationMS: sr.RunTime.Milliseconds(),
			Entries:    []Entry{},
		}
		if sp.Labels == nil {
			sp.Labels = []string{}
		}
		if sr.State.Is(types.SpecStateFailureStates) || sr.State == types.SpecStateSkipped {
			sp.Failure = failureText(sr)
		}
		if !sp.Selected && sp.Status == StatusSkipped && sp.Failure == "" {
			sp.Failure = "not selected by the label filter or focus"
		}
		for _, re := range sr.ReportEntries {
			sp.Entries = append(sp.Entries, Entry{Name: re.Name, Value: re.StringRepresentation()})
		}
		out.Specs = append(out.Specs, sp)
	}
	out.Summary = summarize(out.Specs)
	return out
}

// failureText is the reason a spec failed or was skipped, in one line; a
// failure outside the spec's own body names where it happened.
func failureText(sr types.SpecReport) string {
	msg := capText(oneLine(sr.Failure.Message), maxFailure)
	if msg == "" && sr.State == types.SpecStateSkipped {
		return ""
	}
	if nt := sr.Failure.FailureNodeType; nt != types.NodeTypeIt && nt != types.NodeTypeInvalid && msg != "" {
		msg = fmt.Sprintf("in %s: %s", nt, msg)
	}
	return msg
}

// maxFailure bounds a spec's failure text: a server's error page (a SOAP
// fault, an HTML page) is evidence in its first lines, noise after.
const maxFailure = 400

// maxFailureWithCause bounds it when the run's root cause says the rest.
const maxFailureWithCause = 160

// capText cuts s to at most n bytes, on a rune boundary, marking the cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d more bytes)", len(s)-cut)
}

// addNotRun completes the report with the catalogue's specs it lacks, as
// skipped with why, in catalogue order, and counts again.
func (r *Report) addNotRun(why string) *Report {
	have := map[string]Spec{}
	for _, sp := range r.Specs {
		have[sp.ID] = sp
	}
	r.Specs = nil
	for _, c := range Catalogue() {
		sp, ok := have[c.ID]
		if !ok {
			sp = Spec{ID: c.ID, Text: c.Text, Labels: c.Labels, Status: StatusSkipped, Selected: true, Failure: why, Entries: []Entry{}}
		}
		r.Specs = append(r.Specs, sp)
	}
	r.Summary = summarize(r.Specs)
	return r
}
