package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/reports"
	"github.com/meshdoctor/meshdoctor/suites"
)

// ConformanceNeeds are the checks the conformance suites need to have
// passed: without an accepted handshake every spec would fail for the same
// reason, already named.
var ConformanceNeeds = []string{"mesh.handshake"}

// Conform is the second half of the main job: when what the suites need
// passed in run's checks, it runs the conformance suites and adds their
// report to run; otherwise it records them as skipped, naming the check.
// The run is finished again either way. A *suites.ConfigError (bad suite
// options), or a failure that left no report, is returned; the run is then
// unchanged.
func Conform(ctx context.Context, run *reports.Run, opts suites.Options) error {
	if why := UnmetNeeds(run, ConformanceNeeds); why != "" {
		run.Conformance = suites.Skipped("skipped: " + why)
	} else {
		rep, err := suites.Run(ctx, opts)
		var cfgErr *suites.ConfigError
		if errors.As(err, &cfgErr) || (err != nil && rep == nil) {
			return err
		}
		run.Conformance = rep
	}
	run.Finish(time.Now().UTC())
	return nil
}

// UnmetNeeds names the first needed check that did not pass (or warn).
func UnmetNeeds(run *reports.Run, needs []string) string {
	for _, id := range needs {
		r, ok := ResultOf(run, id)
		switch {
		case !ok:
			return id + " was not run"
		case r.Status == checks.Skip:
			// Its skip names the failure behind it.
			return fmt.Sprintf("%s did not run (%s)", id, strings.TrimPrefix(r.Summary, "skipped: "))
		case r.Status != checks.Pass && r.Status != checks.Warn:
			return fmt.Sprintf("%s %s", id, map[checks.Status]string{checks.Fail: "failed", checks.Error: "could not be checked"}[r.Status])
		}
	}
	return ""
}

// ResultOf finds a check's result in the run.
func ResultOf(run *reports.Run, id string) (checks.Result, bool) {
	for _, r := range run.Checks {
		if r.ID == id {
			return r, true
		}
	}
	return checks.Result{}, false
}
