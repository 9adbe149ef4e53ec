package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/internal/osinfo"
	"github.com/meshdoctor/meshdoctor/reports"
)

// outputFlags say where a run's reports go besides stdout (whose format
// --format chooses).
type outputFlags struct {
	outDir string
	junit  string
	bundle string
}

// register adds --out-dir and --junit; --bundle too when bundle is true
// (a support bundle is for runs that reach MESH: check and run). Each path
// is checked as the flags are parsed, before anything runs: a path that
// cannot be written is a usage error (exit 2) naming the flag, not a failure
// found after the run (whose test messages a 'run' has already sent).
func (o *outputFlags) register(fl *pflag.FlagSet, bundle bool) {
	fl.Var(&reportPath{&o.outDir, reports.CheckDir}, "out-dir", "also write report.txt, report.json, junit.xml and report.html into this directory")
	fl.Var(&reportPath{&o.junit, reports.CheckFile}, "junit", "also write the JUnit XML report to this file")
	if bundle {
		fl.Var(&reportPath{&o.bundle, reports.CheckFile}, "bundle", "also write a support bundle (zip) for a service-desk ticket: report, configuration without secrets, versions, certificate fingerprints, log")
	}
}

// reportPath is a flag naming where a report goes, checked when set.
type reportPath struct {
	p     *string
	check func(string) error
}

func (r *reportPath) String() string {
	if r.p == nil {
		return ""
	}
	return *r.p
}

func (r *reportPath) Type() string { return "path" }

func (r *reportPath) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty path")
	}
	if err := r.check(v); err != nil {
		return err
	}
	*r.p = v
	return nil
}

// proxyVariables are the variables that route MESH traffic through a proxy.
// The bundle names those set; their values may hold a proxy password.
var proxyVariables = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"}

// writeRun prints the run on stdout in format (text or json), writes the
// files the output flags ask for, and turns the run's verdict into the exit
// code, which is the same whatever the formats. Every byte goes through the
// run's redaction (the reports package's writers).
func (a *app) writeRun(run *reports.Run, format string, verbose bool, o outputFlags) error {
	var err error
	switch format {
	case "json":
		err = reports.WriteJSON(a.stdout, run)
	default:
		err = reports.WriteText(a.stdout, run, reports.TextOptions{Verbose: verbose, Color: a.color()})
	}
	if err != nil {
		return cannotRunError{fmt.Errorf("write the report: %w", err)}
	}
	if o.outDir != "" {
		if err := reports.WriteDir(o.outDir, run); err != nil {
			return cannotRunError{fmt.Errorf("--out-dir: %w", err)}
		}
	}
	if o.junit != "" {
		if err := reports.WriteFile(o.junit, func(w io.Writer) error { return reports.WriteJUnit(w, run) }); err != nil {
			return cannotRunError{fmt.Errorf("--junit: %w", err)}
		}
	}
	if o.bundle != "" {
		info := reports.BundleInfo{OS: osinfo.Description()}
		for _, name := range proxyVariables {
			if a.getenv(name) != "" {
				info.ProxyVariables = append(info.ProxyVariables, name)
			}
		}
		if err := reports.WriteFile(o.bundle, func(w io.Writer) error { return reports.WriteBundle(w, run, info) }); err != nil {
			return cannotRunError{fmt.Errorf("--bundle: %w", err)}
		}
	}
	if !run.Summary.OK {
		return failedError{run.Line()}
	}
	return nil
}
