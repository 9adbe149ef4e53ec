package prober

import (
	"context"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/reports"
)

// CheckJob says which checks to run and how.
type CheckJob struct {
	// Command is recorded in the run ("check", "run", "exporter").
	Command string
	// Checks are the selected checks (checks.Select).
	Checks  []checks.Check
	Options checks.Options
	// Version is meshdoctor's version, for the report's tool.
	Version string
	// Sandbox records that the target is an embedded sandbox.
	Sandbox bool
	// Progress, when not nil, is called as each check finishes.
	Progress func(checks.Result)
}

// Checks runs the job's checks against t and returns the finished run and
// the numbers the checks observed (certificate expiry, clock offset, inbox).
// When ctx ends early the run holds what finished; the caller decides what
// an interruption means.
func Checks(ctx context.Context, t mesh.Target, job CheckJob) (*reports.Run, checks.Measurements) {
	run := &reports.Run{
		Tool:    reports.NewTool(job.Version),
		Command: job.Command,
		Target:  reports.NewTarget(t, job.Options.Sources),
		Started: time.Now().UTC(),
	}
	run.Target.Sandbox = job.Sandbox
	f := checks.NewFacts(t, job.Options)
	run.Checks = checks.RunWith(ctx, f, job.Checks, job.Progress)
	m := f.Measurements()
	run.Finish(time.Now().UTC())
	return run, m
}

// IdentityChecks are the file checks: the keystore, the client certificate
// and the CA bundle. None of them touches the network.
func IdentityChecks() ([]checks.Check, error) {
	return checks.Select([]string{"keystore", "cert"}, nil)
}
