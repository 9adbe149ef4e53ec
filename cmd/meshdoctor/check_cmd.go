package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/internal/console"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/prober"
	"github.com/meshdoctor/meshdoctor/reports"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// checkFlags are the flags of `meshdoctor check` (and of the checks part of
// `meshdoctor run`).
type checkFlags struct {
	target  targetFlags
	sandbox string // "" no sandbox; "none" a clean one; else FAULT,FAULT
	only    []string
	skip    []string
	list    bool
	timeout time.Duration
	format  string
	verbose bool
	geo     geoCheckFlags
	out     outputFlags
}

// sandboxFlagUnset marks --sandbox as not given (an empty value means
// "given, with no faults").
const sandboxFlagUnset = "\x00"

func (f *checkFlags) register(fl *pflag.FlagSet) {
	f.target.register(fl)
	fl.StringVar(&f.sandbox, "sandbox", sandboxFlagUnset, "start an embedded MESH sandbox, with these faults (comma-separated), and check it")
	fl.Lookup("sandbox").NoOptDefVal = "none"
	fl.Lookup("sandbox").DefValue = "" // the unset marker is not for --help
	fl.StringSliceVar(&f.only, "only", nil, "run only these checks (IDs or families, comma-separated) and what they need")
	fl.StringSliceVar(&f.skip, "skip", nil, "do not run these checks (IDs or families)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "time limit for each check")
	fl.StringVar(&f.format, "format", "text", "output on stdout: text or json")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show every check's evidence")
	f.geo.register(fl)
	f.out.register(fl, true)
}

func (a *app) checkCommand() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Diagnose a MESH connection, from DNS to an authenticated handshake",
		Long: `Check everything a MESH connection needs, in order, and say in plain words what is wrong
and what to do: the environment and route, DNS, TCP (through HTTPS_PROXY when set), the
server's TLS certificate against the Spine CAs, mutual TLS with our certificate, the
credentials and NHSMESH token, the clock, the authenticated handshake and the inbox.

Each check has a stable ID (scripts filter on them: --only, --skip); 'check --list' shows
them. Checks that fail skip what depends on them, and the skip names the failure.
Nothing is sent to MESH but the handshake and an inbox listing; no message is sent.

With --sandbox, an embedded MESH sandbox is started in-process and checked; give faults
to see how each real failure is diagnosed: --sandbox=clock-skew,reject-token.

` + targetEnvHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor check --sandbox
  meshdoctor check --sandbox=unknown-client-ca
  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor check --env int --mailbox X26ABC1 \
      --keystore int.p12 --ca-bundle nhs-int-ca-bundle.pem
  meshdoctor check --env int --only dns,tcp --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.list {
				return a.listChecks(f.format)
			}
			run, err := a.runChecks(cmd.Context(), f, "check")
			if err != nil {
				return err
			}
			werr := a.writeRun(run, f.format, f.verbose, f.out)
			if cmd.Context().Err() != nil {
				return errInterrupted
			}
			return werr
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&f.list, "list", false, "list the checks and exit")
	return cmd
}

// runChecks builds the target (or a sandbox), selects and runs the checks,
// and returns the run.
func (a *app) runChecks(ctx context.Context, f checkFlags, command string) (*reports.Run, error) {
	if f.format != "text" && f.format != "json" {
		return nil, usagef("--format %q: want text or json", f.format)
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	if _, err := checks.Select(f.only, f.skip); err != nil {
		return nil, usageError{err}
	}
	target, sources, cleanup, err := a.checkTarget(f)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return a.runChecksOn(ctx, f, command, target, sources)
}

// runChecksOn runs the selected checks against a resolved target.
func (a *app) runChecksOn(ctx context.Context, f checkFlags, command string, target mesh.Target, sources map[string]string) (*reports.Run, error) {
	selected, err := checks.Select(f.only, f.skip)
	if err != nil {
		return nil, usageError{err}
	}
	if err := validateTargetFiles(target, selected); err != nil {
		return nil, err
	}
	opts := checks.Options{
		Timeout:       f.timeout,
		Deadline:      max(30*time.Second, 3*f.timeout),
		Sources:       sources,
		ClientVersion: buildinfo.ClientVersion(),
		Getenv:        a.getenv,
	}
	if err := a.applyGeoFlags(f.geo, &opts); err != nil {
		return nil, err
	}
	// Interrupted, the run still comes back with what ran: the report is
	// always written; the caller then exits 130.
	run, _ := prober.Checks(ctx, target, prober.CheckJob{
		Command: command, Checks: selected, Options: opts,
		Sandbox: f.sandbox != sandboxFlagUnset, Progress: a.progress(len(selected)),
	})
	return run, nil
}

// checkTarget resolves the target from the flags, or starts a sandbox.
func (a *app) checkTarget(f checkFlags) (mesh.Target, map[string]string, func(), error) {
	if f.sandbox == sandboxFlagUnset {
		t, sources, err := a.resolveTargetSources(f.target)
		if err != nil {
			return t, nil, nil, err
		}
		if _, err := t.BaseURL(); err != nil {
			return t, nil, nil, usageError{err}
		}
		return t, sources, func() {}, nil
	}
	if f.target != (targetFlags{}) {
		return mesh.Target{}, nil, nil, usagef("--sandbox checks its own embedded sandbox: drop the target flags, or drop --sandbox")
	}
	cfg := sandbox.Config{Listen: "127.0.0.1:0"}
	for _, name := range strings.Split(f.sandbox, ",") {
		if name = strings.TrimSpace(name); name == "" || name == "none" {
			continue
		}
		fault, err := sandbox.ParseFault(name)
		if err != nil {
			return mesh.Target{}, nil, nil, usageError{err}
		}
		cfg.Faults = append(cfg.Faults, fault)
	}
	dir, err := os.MkdirTemp("", "meshdoctor-sandbox-")
	if err != nil {
		return mesh.Target{}, nil, nil, cannotRunError{err}
	}
	cfg.PKIDir = dir
	srv, err := sandbox.Start(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return mesh.Target{}, nil, nil, cannotRunError{fmt.Errorf("start embedded sandbox: %w", err)}
	}
	cleanup := func() {
		srv.Close()
		os.RemoveAll(dir)
	}
	t, err := mesh.LoadProfile(srv.Files().Profile)
	if err != nil {
		cleanup()
		return mesh.Target{}, nil, nil, cannotRunError{fmt.Errorf("read the sandbox's profile: %w", err)}
	}
	t.Recipient = t.Credentials.Mailbox
	if t.Workflow == "" {
		t.Workflow = "TEST_WORKFLOW2"
	}
	sources := map[string]string{}
	for _, k := range []string{"url", "mailbox", "password", "shared_key", "keystore", "keystore_password", "ca_bundle"} {
		sources[k] = "embedded sandbox"
	}
	return t, sources, cleanup, nil
}

// validateTargetFiles refuses, as a usage error, files that are named but
// cannot be opened, and missing secrets that the selected checks need.
// Files that open but do not parse are the checks' to judge.
func validateTargetFiles(t mesh.Target, selected []checks.Check) error {
	if t.Keystore != "" && (t.CertFile != "" || t.KeyFile != "") {
		return usagef("give either a keystore (--keystore) or a certificate and key (--cert, --key), not both")
	}
	for _, file := range []struct{ path, what string }{
		{t.Keystore, "keystore"}, {t.CertFile, "client certificate"}, {t.KeyFile, "client key"}, {t.CABundle, "CA bundle"},
	} {
		if file.path == "" {
			continue
		}
		fh, err := os.Open(file.path)
		if err != nil {
			return usagef("cannot read the %s: %v", file.what, err)
		}
		st, err := fh.Stat()
		fh.Close()
		if err == nil && st.IsDir() {
			return usagef("the %s %s is a directory, not a file", file.what, file.path)
		}
	}
	needsCreds := false
	for _, c := range selected {
		needsCreds = needsCreds || c.ID == "auth.credentials" || c.Family() == "mesh"
	}
	if !needsCreds {
		return nil
	}
	return requireCredentials(t.Credentials)
}

// color is true when NO_COLOR is not set and stdout is a terminal that
// reads ANSI colours (a Windows console with virtual-terminal processing,
// turned on here when it can be).
func (a *app) color() bool { return a.getenv("NO_COLOR") == "" && console.ANSI(a.stdout) }

func isTerminal(w any) bool { return console.IsTerminal(w) }

// progress shows, on stderr and only when it is a terminal, how far the
// checks have got; CI logs and pipes get nothing, nor does a console that
// cannot read the escape that clears the line.
func (a *app) progress(total int) func(checks.Result) {
	if !console.ANSI(a.stderr) {
		return nil
	}
	done := 0
	return func(r checks.Result) {
		done++
		fmt.Fprintf(a.stderr, "\r\x1b[K  checking… %d/%d (%s: %s)", done, total, r.ID, r.Status)
		if done == total {
			fmt.Fprint(a.stderr, "\r\x1b[K")
		}
	}
}

func (a *app) listChecks(format string) error {
	all := checks.Catalogue()
	if format == "json" {
		type entry struct {
			ID      string   `json:"id"`
			Title   string   `json:"title"`
			Needs   []string `json:"needs"`
			Offline bool     `json:"offline"`
		}
		out := make([]entry, len(all))
		for i, c := range all {
			out[i] = entry{c.ID, c.Title, append([]string{}, c.Needs...), c.Offline}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNEEDS\tWHAT IT CHECKS")
	for _, c := range all {
		needs := strings.Join(c.Needs, ",")
		if needs == "" {
			needs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, needs, c.Title)
	}
	return tw.Flush()
}
