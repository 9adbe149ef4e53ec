package suites

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// JUnit XML written from the suite's own model: Ginkgo's writer adds
// attributes the strictest common schema (Jenkins xunit's junit-10.xsd)
// refuses (status and properties on test cases, disabled on suites).
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
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
	SystemOut string      `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// seconds writes a duration with at most three decimals, as junit-10.xsd
// wants.
func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: one test suite, a test case
// per spec (the sentence as its name, the ID as its class name), failures
// and skips with their reasons, report entries as system-out.
func WriteJUnit(w io.Writer, r *Report) error {
	s := junitSuite{Name: suiteName, Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), Time: seconds(r.Duration)}
	for _, sp := range r.Specs {
		c := junitCase{Name: sp.Text, Classname: sp.ID, Time: seconds(time.Duration(sp.DurationMS) * time.Millisecond)}
		var out []string
		for _, e := range sp.Entries {
			out = append(out, e.Name+": "+e.Value)
		}
		c.SystemOut = strings.Join(out, "\n")
		switch sp.Status {
		case StatusPassed:
		case StatusSkipped, StatusPending:
			s.Skipped++
			c.Skipped = &junitMessage{Message: orNone(sp.Failure)}
		case StatusFailed:
			s.Failures++
			c.Failure = &junitMessage{Message: sp.Failure, Type: sp.Status, Text: sp.Failure}
		default: // panicked, interrupted, aborted, timedout: the spec could not finish
			s.Errors++
			c.Error = &junitMessage{Message: sp.Failure, Type: sp.Status, Text: sp.Failure}
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	var notes []string
	notes = append(notes, fmt.Sprintf("clean-up: %d sent, %d acknowledged, %d leftovers of earlier runs drained",
		r.Cleanup.Sent, r.Cleanup.Acknowledged, r.Cleanup.Drained))
	notes = append(notes, r.Cleanup.Leftovers...)
	notes = append(notes, r.Setup...)
	s.SystemOut = strings.Join(notes, "\n")
	doc := junitSuites{Name: "meshdoctor", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes the JUnit report to path.
func WriteJUnitFile(path string, r *Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	if err := WriteJUnit(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write JUnit report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write JUnit report %s: %w", path, err)
	}
	return nil
}
