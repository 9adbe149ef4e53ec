package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/reports"
	"github.com/meshdoctor/meshdoctor/suites"
)

type conformFlags struct {
	target       targetFlags
	sandbox      string
	list         bool
	labelFilter  string
	focus        []string
	timeout      time.Duration
	pollInterval time.Duration
	chunkSize    string
	failFast     bool
	cleanEarlier bool
	format       string
	verbose      bool
	out          outputFlags
}

func (a *app) conformCommand() *cobra.Command {
	var f conformFlags
	cmd := &cobra.Command{
		Use:   "conform",
		Short: "Run the MESH conformance suites: prove send, receive and acknowledge end to end",
		Long: `Run meshdoctor's conformance catalogue against MESH: a handshake in both API versions, the
token rules, one message with every optional header sent, listed, read, downloaded and
acknowledged, tracking, chunked and gzip-compressed messages, inbox pagination, lookups,
and the errors MESH must give. Each spec has a stable ID and states what MESH MUST do;
--list prints the catalogue and --label-filter or --focus choose from it.

Messages go to your own mailbox, or to --recipient when MESH_RECIPIENT_PASSWORD (or
MESH_RECIPIENT_PASSWORD_FILE) lets the suites receive there too. Each run has an ID,
carried in the local ID and subject of every message it sends; it acknowledges only
messages that carry it and come from its own mailbox, on the way out, also after
failures, timeouts and Ctrl-C (a second Ctrl-C stops the clean-up; the report names
what was left). Messages of earlier runs are reported, not touched, unless
--clean-up-earlier-runs; other messages are never downloaded or acknowledged.

Live MESH is refused unless --allow-live; then only the live-safe specs run.

With --sandbox an embedded MESH sandbox is started in-process; --sandbox=FAULT,... starts
it with faults (see 'meshdoctor sandbox --help').

Labels: ` + strings.Join(suites.Labels(), ", ") + `

` + targetEnvHelp + `

Exit codes: 0 every spec that ran passed; 1 a spec failed (or none ran); 2 usage or
configuration error, or live MESH without --allow-live; 3 meshdoctor could not run;
130 interrupted.`,
		Example: `  meshdoctor conform --sandbox
  meshdoctor conform --list
  meshdoctor conform --sandbox --label-filter 'send && !chunked' --format json
  meshdoctor conform --sandbox=reject-token --timeout 2s
  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor conform --env int --mailbox X26ABC1 \
      --keystore int.p12 --ca-bundle nhs-int-ca-bundle.pem --workflow MY_WORKFLOW --junit conform.xml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.conform(cmd.Context(), f)
		},
	}
	f.target.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&f.sandbox, "sandbox", sandboxFlagUnset, "start an embedded MESH sandbox and run against it; --sandbox=FAULT,... injects faults")
	fl.Lookup("sandbox").NoOptDefVal = "none"
	fl.Lookup("sandbox").DefValue = "" // the unset marker is not for --help
	fl.BoolVar(&f.list, "list", false, "print the catalogue (ID, labels, what MESH MUST do) and exit")
	fl.StringVar(&f.labelFilter, "label-filter", "", "run the specs whose labels match this expression, e.g. 'send && !chunked'")
	fl.StringArrayVar(&f.focus, "focus", nil, "run the specs whose ID or text matches this regular expression (repeatable)")
	fl.DurationVar(&f.timeout, "timeout", 0, "longest wait for one request or for MESH to deliver (default 2m; 10s with --sandbox)")
	fl.DurationVar(&f.pollInterval, "poll-interval", 0, "how often to look again while waiting (default 5s; 50ms with --sandbox)")
	fl.StringVar(&f.chunkSize, "chunk-size", "", "chunk size of the chunked specs, at most 100MB (default 6MiB; 16KiB with --sandbox)")
	fl.BoolVar(&f.failFast, "fail-fast", false, "stop at the first failed spec (clean-up still runs)")
	registerCleanEarlier(fl, &f.cleanEarlier)
	fl.StringVar(&f.format, "format", "text", "output on stdout: text or json")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show what each spec recorded, not only for failures")
	f.out.register(fl, false)
	return cmd
}

func (a *app) conform(ctx context.Context, f conformFlags) error {
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q: want text or json", f.format)
	}
	if f.list {
		return a.listCatalogue(f.format)
	}
	// The same target and embedded sandbox as 'check' (--sandbox[=FAULT,...]).
	t, sources, cleanup, err := a.checkTarget(checkFlags{target: f.target, sandbox: f.sandbox})
	if err != nil {
		return err
	}
	defer cleanup()
	sandboxed := f.sandbox != sandboxFlagUnset
	o, err := a.suiteOptions(f, t, sandboxed)
	if err != nil {
		return err
	}
	started := time.Now()
	rep, err := suites.Run(ctx, o)
	var cfgErr *suites.ConfigError
	switch {
	case errors.Is(err, suites.ErrLiveRefused), errors.As(err, &cfgErr):
		return usageError{err}
	case err != nil && rep == nil:
		return cannotRunError{err}
	}

	run := &reports.Run{
		Schema:      reports.Schema,
		Tool:        reports.NewTool(),
		Command:     "conform",
		Target:      reports.NewTarget(o.Target, sources),
		Started:     started,
		Conformance: rep,
	}
	run.Target.Sandbox = sandboxed
	run.Finish(time.Now())

	// One writer for every format and file, through the run's redaction.
	werr := a.writeRun(run, f.format, f.verbose, f.out)
	if ctx.Err() != nil {
		return errInterrupted
	}
	if err != nil {
		return cannotRunError{err}
	}
	return werr
}

// listCatalogue prints every spec: ID, labels and sentence (text), or the
// catalogue as a JSON array.
// suiteOptions turns the conformance flags and a resolved target into the
// suites' options: sandbox defaults, the recipient's password, the TLS
// identity, live refused unless allowed, progress only on a terminal.
func (a *app) suiteOptions(f conformFlags, t mesh.Target, sandboxed bool) (suites.Options, error) {
	o := suites.Options{
		LabelFilter:  f.labelFilter,
		Focus:        f.focus,
		FailFast:     f.failFast,
		Timeout:      f.timeout,
		PollInterval: f.pollInterval,
		AllowLive:    f.target.allowLive,

		CleanUpEarlierRuns: f.cleanEarlier,
	}
	if f.timeout < 0 || f.pollInterval < 0 {
		return o, usagef("--timeout and --poll-interval must not be negative")
	}
	if f.chunkSize != "" {
		n, err := parseSize(f.chunkSize)
		if err != nil {
			return o, usagef("--chunk-size: %v", err)
		}
		if n > suites.MaxChunkSize {
			return o, usagef("--chunk-size %s: at most 100MB, MESH's limit on one request", f.chunkSize)
		}
		o.ChunkSize = n
	}
	if sandboxed {
		// Local: small chunks, and no reason to wait long.
		o.Timeout = cmp.Or(o.Timeout, 10*time.Second)
		o.PollInterval = cmp.Or(o.PollInterval, 50*time.Millisecond)
		o.ChunkSize = cmp.Or(o.ChunkSize, 16<<10)
	}
	if t.IsLive() && !f.target.allowLive {
		return o, usageError{suites.ErrLiveRefused}
	}
	if t.Recipient != t.Credentials.Mailbox {
		pw, err := a.secret("MESH_RECIPIENT_PASSWORD")
		if err != nil {
			return o, usageError{err}
		}
		if pw != "" {
			o.RecipientCredentials = &mesh.Credentials{Mailbox: t.Recipient, Password: pw, SharedKey: t.Credentials.SharedKey}
		}
	}
	var err error
	if o.TLS, err = t.TLSConfig(); err != nil {
		return o, usageError{err}
	}
	o.Target = t
	if isTerminal(a.stderr) {
		// Progress only where a person watches; CI logs stay quiet.
		o.Progress = a.stderr
	}
	return o, nil
}

// registerCleanEarlier adds --clean-up-earlier-runs (conform and run).
func registerCleanEarlier(fl *pflag.FlagSet, v *bool) {
	fl.BoolVar(v, "clean-up-earlier-runs", false, "acknowledge, before the specs, what earlier meshdoctor runs sent from this mailbox and left in the inbox (each listed; other senders' messages and those younger than a run can last are refused)")
}

func (a *app) listCatalogue(format string) error {
	cat := suites.Catalogue()
	if format == "json" {
		return writeIndentedJSON(a.stdout, cat)
	}
	for _, e := range cat {
		fmt.Fprintf(a.stdout, "%-19s [%s]\n    %s\n", e.ID, strings.Join(e.Labels, ", "), e.Text)
	}
	fmt.Fprintf(a.stdout, "\n%d specs\n", len(cat))
	return nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
