package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/reports"
	"github.com/meshdoctor/meshdoctor/suites"
)

// app is what every sub-command shares: its streams and environment.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// run is the whole CLI: it writes only to the streams it is given and
// returns the exit code, so tests drive it without a subprocess.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	// Only the commands that send messages have a clean-up to speak of.
	sends := len(args) > 0 && (args[0] == "conform" || args[0] == "run")
	ctx, stop := interrupts(stderr, sends)
	defer stop()
	return runContext(ctx, args, stdout, stderr, getenv)
}

// interrupts turns Ctrl-C and SIGTERM into the two stops of a run: the
// first cancels the returned context (stop sending; clean up what was
// sent), the second the clean-up too (CI runners send two), after which
// the report still names what was left behind. With sends, each stop is
// announced on stderr.
func interrupts(stderr io.Writer, sends bool) (context.Context, func()) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	first, cancelFirst := context.WithCancel(context.Background())
	second, cancelSecond := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			if sends {
				fmt.Fprintln(stderr, "meshdoctor: interrupted: stopping; acknowledging what this run sent (interrupt again to stop the clean-up)")
			}
			cancelFirst()
		case <-done:
			return
		}
		select {
		case <-sig:
			if sends {
				fmt.Fprintln(stderr, "meshdoctor: interrupted again: stopping the clean-up; the report names what is left")
			}
			cancelSecond()
		case <-done:
		}
	}()
	return suites.WithHardStop(first, second), func() {
		signal.Stop(sig)
		close(done)
		cancelFirst()
		cancelSecond()
	}
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	defer func() {
		// A panic is a bug, but the user still gets one line and exit 3.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "meshdoctor: internal error: %v (please report this)\n", r)
			code = exitCannotRun
		}
	}()
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil && !errors.As(err, new(usageError)) {
		err = errInterrupted
	}
	code = exitCode(err)
	switch {
	case err == nil:
	case code == exitFailed:
		// The job printed its findings and summary already.
	default:
		// One line, always: a usage error points at the help on the same line.
		msg := oneLine(redactError(err.Error()))
		if code == exitUsage {
			msg += " (see 'meshdoctor help')"
		}
		fmt.Fprintf(stderr, "meshdoctor: %s\n", msg)
	}
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// urlPassword is the password part of a URL's user information; not the
// "[user:password@]" of a URL's template in a message.
var urlPassword = regexp.MustCompile(`(://[^/:@\s\[]*:)[^@\s]+@`)

// redactError keeps secrets out of an error line: a password written into
// a URL (a mistyped --url or proxy), a token's HMAC, a private key. The
// values of configured secrets never reach error messages in the first
// place; this catches what a user typed where a secret does not belong.
func redactError(msg string) string {
	return reports.NewRedactor().String(urlPassword.ReplaceAllString(msg, "${1}"+reports.Redacted+"@"))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "meshdoctor",
		Short: "Can this organisation really exchange messages over NHS MESH? If not, why, and what to do.",
		Long: `meshdoctor tests a connection to NHS England's MESH (Message Exchange for Social care
and Health): DNS, TLS and the Spine certificates, the NHSMESH token, and a real
send, receive and acknowledge, and says in plain words what is wrong and how to fix it.

It carries its own MESH sandbox, so everything runs on one machine with no NHS network:
  meshdoctor run --sandbox           every check, then the conformance suites, against an embedded sandbox
  meshdoctor check --sandbox=FAULT   see how a fault (clock-skew, unknown-client-ca, …) is diagnosed
  meshdoctor sandbox                 run a local MESH server with mutual TLS and fault injection

Against a real environment (secrets in MESH_MAILBOX_PASSWORD, MESH_SHARED_KEY):
  meshdoctor check --env int --mailbox X26ABC1 --keystore int.p12 --ca-bundle int-ca.pem

Secrets (mailbox password, shared key, keystore password) are read from environment
variables or files, never from flags, and never printed.

` + exitCodesHelp,
		Version:       buildinfo.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("meshdoctor {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{windowsPathFlagError(err)} })
	root.AddCommand(a.sandboxCommand(), a.roundtripCommand(), a.versionCommand())
	root.AddCommand(a.checkCommand(), a.runCommand())
	root.AddCommand(a.geoCommand())
	root.AddCommand(a.tokenCommand())
	root.AddCommand(a.conformCommand())
	root.AddCommand(a.keystoreCommand(), a.csrCommand())
	root.AddCommand(a.exporterCommand())
	return root
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// windowsPathFlagError shows a flag's value as it was typed where Go's
// quoting would only double its backslashes: C:\reports quoted by Go
// ("C:\\reports") reads as another path to a Windows user. A value with
// anything else to escape (a quote, a control character) keeps pflag's
// quoting.
func windowsPathFlagError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) || bad.GetFlag() == nil {
		return err
	}
	v := bad.GetValue()
	if !strings.Contains(v, `\`) || strconv.Quote(v) != `"`+strings.ReplaceAll(v, `\`, `\\`)+`"` {
		return err
	}
	return fmt.Errorf(`invalid argument "%s" for "--%s" flag: %w`, v, bad.GetFlag().Name, errors.Unwrap(bad))
}
