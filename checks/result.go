package checks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is a check's verdict.
type Status string

// The verdicts. Error means the tool could not reach a verdict (an unreadable
// file, say); it counts as a failure for the exit code, since nothing was
// proven.
const (
	Pass  Status = "pass"
	Warn  Status = "warn"
	Fail  Status = "fail"
	Skip  Status = "skip"
	Error Status = "error"
)

// Failed reports whether the status makes the run fail.
func (s Status) Failed() bool { return s == Fail || s == Error }

// Fact is one piece of evidence: a name and its value, as a person reads it.
type Fact struct {
	Key   string
	Value string
}

// Evidence is an ordered list of facts. It marshals to a JSON object whose
// members keep their order.
type Evidence []Fact

// Get returns the value of key, if present.
func (e Evidence) Get(key string) (string, bool) {
	for _, f := range e {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// MarshalJSON writes the facts as one JSON object, in order.
func (e Evidence) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range e {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		v, _ := json.Marshal(f.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object written by MarshalJSON, keeping its order.
func (e *Evidence) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("evidence must be a JSON object")
	}
	*e = nil
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("evidence %v: %w", kt, err)
		}
		*e = append(*e, Fact{Key: kt.(string), Value: v})
	}
	_, err := dec.Token()
	return err
}

// Verdict is what a check's function returns; the runner adds the ID, the
// title and the duration to make a Result.
type Verdict struct {
	Status      Status
	Summary     string
	Evidence    Evidence
	Remediation string
}

func verdict(s Status, format string, args []any) Verdict {
	return Verdict{Status: s, Summary: oneLine(fmt.Sprintf(format, args...))}
}

// Passf, Warnf, Failf, Skipf and Errorf make a verdict with a one-line summary.
func Passf(format string, args ...any) Verdict  { return verdict(Pass, format, args) }
func Warnf(format string, args ...any) Verdict  { return verdict(Warn, format, args) }
func Failf(format string, args ...any) Verdict  { return verdict(Fail, format, args) }
func Skipf(format string, args ...any) Verdict  { return verdict(Skip, format, args) }
func Errorf(format string, args ...any) Verdict { return verdict(Error, format, args) }

// With adds a fact to the evidence. Values are formatted with fmt.Sprint;
// empty values are left out.
func (v Verdict) With(key string, value any) Verdict {
	s := fmt.Sprint(value)
	if s == "" {
		return v
	}
	v.Evidence = append(v.Evidence, Fact{key, s})
	return v
}

// WithEvidence appends facts gathered elsewhere.
func (v Verdict) WithEvidence(e Evidence) Verdict {
	v.Evidence = append(v.Evidence, e...)
	return v
}

// Fix sets the remediation: what to do, in words a non-expert can follow.
func (v Verdict) Fix(format string, args ...any) Verdict {
	v.Remediation = strings.TrimSpace(fmt.Sprintf(format, args...))
	return v
}

// Result is one check's outcome in a run.
type Result struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Status      Status        `json:"status"`
	Summary     string        `json:"summary"`
	Evidence    Evidence      `json:"evidence"`
	Remediation string        `json:"remediation,omitempty"`
	Duration    time.Duration `json:"-"`
}

// MarshalJSON adds duration_ms and keeps evidence an object even when empty.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.Evidence == nil {
		r.Evidence = Evidence{}
	}
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMS int64 `json:"duration_ms"`
	}{plain(r), r.Duration.Milliseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(data []byte) error {
	type plain Result
	var v struct {
		plain
		DurationMS int64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*r = Result(v.plain)
	r.Duration = time.Duration(v.DurationMS) * time.Millisecond
	return nil
}

// Summary counts results by status.
type Summary struct {
	Passed  int `json:"passed"`
	Warned  int `json:"warned"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Errors  int `json:"errors"`
}

// Summarize counts the results.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		switch r.Status {
		case Pass:
			s.Passed++
		case Warn:
			s.Warned++
		case Fail:
			s.Failed++
		case Skip:
			s.Skipped++
		case Error:
			s.Errors++
		}
	}
	return s
}

// OK reports whether nothing failed or errored (warnings allowed).
func (s Summary) OK() bool { return s.Failed == 0 && s.Errors == 0 }

// Line is the closing summary line: "N passed, N warned, N failed, N skipped"
// (with ", N errors" when the tool could not judge something).
func (s Summary) Line() string {
	line := fmt.Sprintf("%d passed, %d warned, %d failed, %d skipped", s.Passed, s.Warned, s.Failed, s.Skipped)
	switch {
	case s.Errors == 1:
		line += ", 1 error"
	case s.Errors > 1:
		line += fmt.Sprintf(", %d errors", s.Errors)
	}
	return line
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
