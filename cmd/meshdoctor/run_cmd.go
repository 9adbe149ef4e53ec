package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/reports"
)

func (a *app) runCommand() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "The main job: diagnose the connection, then prove send, receive and acknowledge",
		Long: `Run every check ('meshdoctor check'), then, when the connection and the credentials
passed, prove the mailbox end to end: send a message to itself, find it, download it,
compare it, acknowledge it and see tracking say so. Every message sent is acknowledged
again on the way out, even after a failure.

With --sandbox an embedded MESH sandbox is started in-process and used: this is what
'make run' shows a new user. Live is refused unless --allow-live is given.

` + targetEnvHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor run --sandbox
  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor run --env int --mailbox X26ABC1 \
      --keystore int.p12 --ca-bundle nhs-int-ca-bundle.pem --workflow MY_WORKFLOW`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.mainJob(cmd.Context(), f)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func (a *app) mainJob(ctx context.Context, f checkFlags) error {
	if f.sandbox == sandboxFlagUnset {
		t, err := a.resolveTarget(f.target)
		if err != nil {
			return err
		}
		if t.IsLive() && !f.target.allowLive {
			return usagef("refusing to send test messages to live MESH: pass --allow-live if you mean it (or run 'meshdoctor check', which sends none)")
		}
	}
	// The target is resolved again inside runChecks; the sandbox, when
	// asked for, lives until the proof is done.
	target, sources, cleanup, err := a.checkTarget(f)
	if err != nil {
		return err
	}
	defer cleanup()
	run, err := a.runChecksOn(ctx, f, "run", target, sources)
	if err != nil {
		return err
	}
	if err := a.finishRun(run, f.format, f.verbose); err != nil && f.format == "json" {
		return err
	}
	if f.format == "json" {
		return nil
	}
	fmt.Fprintln(a.stdout)
	if r, ok := resultOf(run, "mesh.handshake"); !ok || r.Status != checks.Pass {
		fmt.Fprintln(a.stdout, "Round trip: skipped, since mesh.handshake did not pass.")
		return failedError{run.Summary.Line()}
	}
	if target.Workflow == "" {
		fmt.Fprintln(a.stdout, "Round trip: skipped: no workflow (pass --workflow with a workflow id your mailbox may send on).")
		return failedError{"no workflow to send on"}
	}
	tlsCfg, err := target.TLSConfig()
	if err != nil {
		return usageError{err}
	}
	base, _ := target.BaseURL()
	client, err := mesh.NewClient(mesh.Config{
		BaseURL: base, Credentials: target.Credentials, TLS: tlsCfg,
		ChunkSize: 256 << 10, ClientVersion: "meshdoctor==" + buildVersion(),
	})
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(a.stdout, "Round trip %s → %s on workflow %s\n", target.Credentials.Mailbox, target.Recipient, target.Workflow)
	rt := &roundtripRun{out: a.stdout, client: client, target: target, size: 1 << 20, gzip: true, chunk: 256 << 10}
	rtErr := rt.run(ctx)
	if !run.Summary.OK {
		return failedError{run.Summary.Line()}
	}
	return rtErr
}

func resultOf(run *reports.Run, id string) (checks.Result, bool) {
	for _, r := range run.Checks {
		if r.ID == id {
			return r, true
		}
	}
	return checks.Result{}, false
}
