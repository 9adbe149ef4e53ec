package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Run runs the checks against the target: each after what it depends on,
// independent ones concurrently, the dependents of a failure skipped (the
// skip names the failure), each within Options.Timeout and all within
// Options.Deadline. Results come back in the order of cs. Progress, when not
// nil, is called as each check finishes (from several goroutines, one at a
// time).
func Run(ctx context.Context, t mesh.Target, cs []Check, opts Options, progress func(Result)) []Result {
	f := NewFacts(t, opts)
	return RunWith(ctx, f, cs, progress)
}

// RunWith is Run with facts the caller made (and may read afterwards).
func RunWith(ctx context.Context, f *Facts, cs []Check, progress func(Result)) []Result {
	ctx, cancel := context.WithTimeout(ctx, f.Options.Deadline)
	defer cancel()
	defer f.Close()
	ordered, err := order(cs)
	if err != nil {
		// The catalogue test keeps this from happening; say so rather than hang.
		out := make([]Result, len(cs))
		for i, c := range cs {
			out[i] = Result{ID: c.ID, Title: c.Title, Status: Error, Summary: err.Error()}
		}
		return out
	}
	selected := map[string]bool{}
	done := map[string]chan struct{}{}
	for _, c := range ordered {
		selected[c.ID] = true
		done[c.ID] = make(chan struct{})
	}
	progressMu := make(chan struct{}, 1)
	for _, c := range ordered {
		go func(c Check) {
			defer close(done[c.ID])
			for _, d := range append(append([]string{}, c.Needs...), c.After...) {
				if ch, ok := done[d]; ok {
					<-ch
				}
			}
			r := runOne(ctx, f, c, selected)
			if r.Status == Skip {
				recordCause(f, c)
			}
			f.record(r)
			if progress != nil {
				progressMu <- struct{}{}
				progress(r)
				<-progressMu
			}
		}(c)
	}
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		<-done[c.ID]
		r, _ := f.Result(c.ID)
		out = append(out, r)
	}
	return out
}

func runOne(ctx context.Context, f *Facts, c Check, selected map[string]bool) (r Result) {
	start := time.Now()
	r = Result{ID: c.ID, Title: c.Title}
	defer func() { r.Duration = time.Since(start) }()
	for _, d := range c.Needs {
		if !selected[d] {
			r.Status, r.Summary = Skip, fmt.Sprintf("skipped: needs %s, which was not run", d)
			return r
		}
		dep, _ := f.Result(d)
		if dep.Status == Pass || dep.Status == Warn {
			continue
		}
		r.Status = Skip
		f.mu.Lock()
		root := rootCause(f, d)
		f.causes[c.ID] = root
		f.mu.Unlock()
		if root == d {
			r.Summary = fmt.Sprintf("skipped: %s %s", d, pastTense(dep.Status))
		} else {
			r.Summary = fmt.Sprintf("skipped: %s did not pass (%s %s)", d, root, pastTense(f.results[root].Status))
		}
		return r
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		r.Status, r.Summary = Error, "not run: the run was interrupted"
		return r
	}
	if err := ctx.Err(); err != nil {
		r.Status, r.Summary = Error, "not run: the whole run's time limit was reached"
		r.Remediation = "Something before this check took too long; see the checks above, or raise --timeout."
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, f.Options.Timeout)
	defer cancel()
	v := safeRun(cctx, f, c)
	if v.Status == "" {
		v.Status, v.Summary = Error, "the check returned no verdict (a meshdoctor bug)"
	}
	if (v.Status == Fail || v.Status == Error) && cctx.Err() == context.DeadlineExceeded && !strings.Contains(v.Summary, "time") {
		v.Summary += fmt.Sprintf(" (check timed out after %s)", f.Options.Timeout)
	}
	if (v.Status == Fail || v.Status == Error) && errors.Is(ctx.Err(), context.Canceled) {
		// Stopped by an interrupt: whatever it saw is no verdict on MESH.
		v.Status, v.Summary, v.Remediation = Error, "interrupted before a verdict ("+v.Summary+")", ""
	}
	r.Status, r.Summary, r.Evidence, r.Remediation = v.Status, v.Summary, v.Evidence, v.Remediation
	return r
}

// rootCause names the failure behind a skip: the failed check itself, or
// the cause recorded for a skipped one. f.mu is held.
func rootCause(f *Facts, id string) string {
	if cause, ok := f.causes[id]; ok {
		return cause
	}
	return id
}

// recordCause remembers why c was skipped, for the skips of its dependents:
// the first of its Needs, or of the checks it runs After, that failed or
// was itself skipped for a cause.
func recordCause(f *Facts, c Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range append(append([]string{}, c.Needs...), c.After...) {
		r, ok := f.results[d]
		if !ok {
			continue
		}
		if r.Status.Failed() || (r.Status == Skip && f.causes[d] != "") {
			f.causes[c.ID] = rootCause(f, d)
			return
		}
	}
}

func pastTense(s Status) string {
	switch s {
	case Fail:
		return "failed"
	case Error:
		return "could not be checked"
	case Skip:
		return "was skipped"
	}
	return string(s)
}

func safeRun(ctx context.Context, f *Facts, c Check) (v Verdict) {
	defer func() {
		if p := recover(); p != nil {
			v = Errorf("internal error in check %s: %v (please report this)", c.ID, p)
		}
	}()
	return c.Run(ctx, f)
}
