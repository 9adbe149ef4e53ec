package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/sandbox"
)

type sandboxFlags struct {
	listen, sharedKey, mailboxes, workflows string
	dataDir, pkiDir                         string
	tlsCert, tlsKey, clientCA, clientAuth   string
	plain, quiet                            bool
	faults                                  []string
	maxRequest                              string
	allowStale, allowReuse                  bool
	uploadExpiry                            time.Duration
}

func (a *app) sandboxCommand() *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local MESH server with its own PKI, mutual TLS and fault injection",
		Long: `Run an embedded MESH server that behaves like NHS England's MESH API: every endpoint in
v1 and v2, chunking and gzip, the message lifecycle, and NHS's sandbox admin routes.

It keeps NHS's mesh-sandbox defaults so existing clients work unchanged (mailboxes X26ABC1,
X26ABC2 and X26ABC3 with password "password", shared key "TestKey", port 8700), and is
stricter where the real service is: mutual TLS against its own sub-CA, the ±2 hour token
window, single-use tokens, real-style message ids, acknowledged messages gone.

It listens on loopback only unless --listen says otherwise: its passwords are well known.

Faults (--fault, repeatable):
  ` + strings.Join(sandbox.Faults(), "\n  ") + `

` + exitCodesHelp,
		Example: `  meshdoctor sandbox --pki-dir ./sandbox-pki
  meshdoctor sandbox --data-dir ./mesh-data --fault clock-skew
  meshdoctor sandbox --plain --listen 127.0.0.1:8700   # for tools written for NHS's mesh-sandbox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(a.stderr)
			if err != nil {
				return err
			}
			return a.serveSandbox(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", sandbox.DefaultListen, "address to listen on")
	fl.StringVar(&f.sharedKey, "shared-key", sandbox.DefaultSharedKey, "shared key that signs tokens (a test value, not a real environment's)")
	fl.StringVar(&f.mailboxes, "mailboxes", "", "mailboxes.jsonl in NHS mesh-sandbox format (default X26ABC1..3)")
	fl.StringVar(&f.workflows, "workflows", "", "workflows.jsonl in NHS mesh-sandbox format")
	fl.StringVar(&f.dataDir, "data-dir", "", "keep messages in this directory across restarts (default: in memory)")
	fl.StringVar(&f.pkiDir, "pki-dir", "", "write ca.pem, client.pem, client-key.pem, client.p12 and profile.json here, and reuse them on restart")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve this PEM certificate (chain) instead of the sandbox's own")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key of --tls-cert")
	fl.StringVar(&f.clientCA, "client-ca", "", "trust client certificates issued by the CAs in this PEM file instead of the sandbox's")
	fl.StringVar(&f.clientAuth, "client-auth", string(sandbox.RequireClientCert), "client certificates: require, request (checked if sent) or none")
	fl.BoolVar(&f.plain, "plain", false, "serve plain HTTP (no TLS), like NHS's mesh-sandbox without SSL")
	fl.StringArrayVar(&f.faults, "fault", nil, "inject a fault (repeatable); see above")
	fl.StringVar(&f.maxRequest, "max-request-size", "100MB", "largest request body accepted (MESH's limit is 100MB)")
	fl.BoolVar(&f.allowStale, "allow-stale-tokens", false, "accept tokens outside the ±2 hour window (as NHS's mesh-sandbox does)")
	fl.BoolVar(&f.allowReuse, "allow-token-reuse", false, "accept a token more than once (as NHS's mesh-sandbox does)")
	fl.BoolVar(&f.quiet, "quiet", false, "do not log a line per request")
	fl.DurationVar(&f.uploadExpiry, "upload-expiry", sandbox.DefaultUploadExpiry, "expire a chunked upload still incomplete after this long (logged; GET /admin/uploads/expired lists them)")
	return cmd
}

func (f *sandboxFlags) config(logw io.Writer) (sandbox.Config, error) {
	cfg := sandbox.Config{
		Listen:           f.listen,
		SharedKey:        f.sharedKey,
		DataDir:          f.dataDir,
		PKIDir:           f.pkiDir,
		TLSCert:          f.tlsCert,
		TLSKey:           f.tlsKey,
		ClientCA:         f.clientCA,
		Plain:            f.plain,
		AllowStaleTokens: f.allowStale,
		AllowTokenReuse:  f.allowReuse,
		UploadExpiry:     f.uploadExpiry,
	}
	if f.uploadExpiry <= 0 {
		return cfg, usagef("--upload-expiry %s: want a positive duration, e.g. 24h", f.uploadExpiry)
	}
	if !f.quiet {
		cfg.Log = logw
	}
	if err := checkListen(f.listen, "127.0.0.1:8700"); err != nil {
		return cfg, err
	}
	if f.sharedKey == "" {
		return cfg, usagef("--shared-key must not be empty")
	}
	ca, err := sandbox.ParseClientAuth(f.clientAuth)
	if err != nil {
		return cfg, usageError{err}
	}
	cfg.ClientAuth = ca
	for _, name := range f.faults {
		fault, err := sandbox.ParseFault(name)
		if err != nil {
			return cfg, usageError{err}
		}
		cfg.Faults = append(cfg.Faults, fault)
	}
	if cfg.MaxRequestBytes, err = parseSize(f.maxRequest); err != nil {
		return cfg, usagef("--max-request-size: %v", err)
	}
	if f.mailboxes != "" {
		if cfg.Mailboxes, err = sandbox.LoadMailboxes(f.mailboxes); err != nil {
			return cfg, usageError{err}
		}
	}
	if f.workflows != "" {
		if cfg.Workflows, err = sandbox.LoadWorkflows(f.workflows); err != nil {
			return cfg, usageError{err}
		}
	}
	return cfg, nil
}

func (a *app) serveSandbox(ctx context.Context, cfg sandbox.Config) error {
	srv, err := sandbox.Start(cfg)
	if err != nil {
		return classifyStartError(err)
	}
	printSandboxBanner(a.stdout, srv, cfg)
	select {
	case <-ctx.Done():
	case <-srv.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return cannotRunError{fmt.Errorf("stop sandbox: %w", err)}
	}
	fmt.Fprintln(a.stderr, "sandbox stopped")
	// Ctrl-C is how a sandbox is meant to stop: not an interruption.
	return nil
}

// classifyStartError tells a configuration mistake from a failure to run.
func classifyStartError(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return cannotRunError{err}
	}
	return usageError{err}
}

func printSandboxBanner(w io.Writer, srv *sandbox.Server, requested sandbox.Config) {
	cfg := srv.Config()
	fmt.Fprintf(w, "MESH sandbox listening on %s\n", srv.URL())
	var ids []string
	samePassword := true
	for _, m := range cfg.Mailboxes {
		ids = append(ids, m.ID)
		samePassword = samePassword && m.Password == cfg.Mailboxes[0].Password
	}
	fmt.Fprintf(w, "  mailboxes    %s\n", strings.Join(ids, ", "))
	if samePassword && requested.Mailboxes == nil {
		fmt.Fprintf(w, "  password     %s (every mailbox)\n", cfg.Mailboxes[0].Password)
	} else {
		fmt.Fprintln(w, "  passwords    as in --mailboxes")
	}
	fmt.Fprintf(w, "  shared key   %s\n", cfg.SharedKey)
	switch {
	case cfg.Plain:
		fmt.Fprintln(w, "  TLS          none (--plain)")
	case cfg.ClientCA != "":
		fmt.Fprintf(w, "  client auth  %s, CAs from %s\n", cfg.ClientAuth, cfg.ClientCA)
	default:
		fmt.Fprintf(w, "  client auth  %s, certificates issued by the sandbox sub-CA\n", cfg.ClientAuth)
	}
	var strict []string
	if !cfg.AllowStaleTokens {
		strict = append(strict, "±2h token window")
	}
	if !cfg.AllowTokenReuse {
		strict = append(strict, "single-use tokens")
	}
	if len(strict) > 0 {
		fmt.Fprintf(w, "  tokens       %s\n", strings.Join(strict, ", "))
	}
	if cfg.DataDir != "" {
		fmt.Fprintf(w, "  data         %s\n", cfg.DataDir)
	} else {
		fmt.Fprintln(w, "  data         in memory (lost on exit; --data-dir keeps it)")
	}
	if files := srv.Files(); files.CABundle != "" {
		fmt.Fprintf(w, "  CA bundle    %s\n", files.CABundle)
		fmt.Fprintf(w, "  client cert  %s (key %s)\n", files.ClientCert, files.ClientKey)
		fmt.Fprintf(w, "  keystore     %s (password %s)\n", files.ClientKeystore, sandbox.KeystorePassword)
		fmt.Fprintf(w, "  profile      %s\n", files.Profile)
	} else if !cfg.Plain {
		fmt.Fprintln(w, "  client files none written: pass --pki-dir DIR to get ca.pem, client.p12 and a profile")
	}
	if len(cfg.Faults) > 0 {
		var names []string
		for _, f := range cfg.Faults {
			names = append(names, string(f))
		}
		fmt.Fprintf(w, "  faults       %s\n", strings.Join(names, ", "))
	}
	if host, _, err := net.SplitHostPort(srv.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
			fmt.Fprintln(w, "  WARNING      listening beyond loopback: anyone who can reach this port can use the well-known passwords")
		}
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}

// checkListen is a --listen value's usage error, if it has one: not
// host:port, or a port out of range (example shows the right shape).
func checkListen(addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--listen %q: want host:port, e.g. %s", addr, example)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("--listen %q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}
