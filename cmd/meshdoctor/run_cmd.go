package main

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/prober"
	"github.com/meshdoctor/meshdoctor/suites"
)

func (a *app) runCommand() *cobra.Command {
	var f checkFlags
	var cf conformFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "The main job: diagnose the connection, then prove send, receive and acknowledge",
		Long: `Run every check ('meshdoctor check'), then, when the authenticated handshake passed, the
conformance suites ('meshdoctor conform'): send, receive and acknowledge real messages end
to end (chunked, compressed, tracked, error paths), cleaning up after themselves. When a
check the suites need did not pass, the suites are reported as skipped and the check is
named.

With --sandbox an embedded MESH sandbox is started in-process and used: this is what
'make run' shows a new user. Live is refused unless --allow-live is given; then only the
live-safe specs run.

` + targetEnvHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor run --sandbox
  meshdoctor run --sandbox=clock-skew
  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor run --env int --mailbox X26ABC1 \
      --keystore int.p12 --ca-bundle nhs-int-ca-bundle.pem --workflow MY_WORKFLOW`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cf.target, cf.sandbox, cf.format, cf.verbose = f.target, f.sandbox, f.format, f.verbose
			return a.mainJob(cmd.Context(), f, cf)
		},
	}
	f.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&cf.labelFilter, "label-filter", "", "run the conformance specs whose labels match this expression")
	fl.DurationVar(&cf.pollInterval, "poll-interval", 0, "how often the suites look again while waiting for delivery (default 5s; 50ms with --sandbox)")
	fl.DurationVar(&cf.timeout, "suite-timeout", 0, "longest wait for one request or a delivery in the suites (default 2m; 10s with --sandbox)")
	registerCleanEarlier(fl, &cf.cleanEarlier)
	return cmd
}

func (a *app) mainJob(ctx context.Context, f checkFlags, cf conformFlags) error {
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q: want text or json", f.format)
	}
	target, sources, cleanup, err := a.checkTarget(f)
	if err != nil {
		return err
	}
	defer cleanup()
	sandboxed := f.sandbox != sandboxFlagUnset
	// Refuse live (and other bad suite options) before anything is sent.
	opts, err := a.suiteOptions(cf, target, sandboxed)
	if err != nil {
		return err
	}
	// A lower-case mailbox is auth.credentials' finding to report (and the
	// suites are then skipped), not a reason to refuse the whole run; and
	// when the selection leaves out the handshake the suites cannot run, so
	// what they would need is not asked for.
	check := opts
	check.Target.Credentials.Mailbox = strings.ToUpper(check.Target.Credentials.Mailbox)
	if selected, err := checks.Select(f.only, f.skip); err == nil && slices.ContainsFunc(selected, func(c checks.Check) bool { return c.ID == "mesh.handshake" }) {
		if err := check.Validate(); err != nil {
			return usageError{err}
		}
	}
	run, err := a.runChecksOn(ctx, f, "run", target, sources)
	if err != nil {
		return err
	}
	run.Target.Sandbox = sandboxed
	if err := prober.Conform(ctx, run, opts); err != nil {
		if errors.As(err, new(*suites.ConfigError)) {
			return usageError{err}
		}
		return cannotRunError{err}
	}
	if ctx.Err() != nil {
		// Interrupted: what ran (and what the clean-up did) is still shown.
		if err := a.writeRun(run, f.format, f.verbose, f.out); err != nil && !errors.As(err, new(failedError)) {
			return err
		}
		return errInterrupted
	}
	return a.writeRun(run, f.format, f.verbose, f.out)
}
