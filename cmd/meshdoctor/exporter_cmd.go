package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/exporter"
	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/internal/sockerr"
)

// defaultExporterListen is the exporter's own port (loopback by default:
// the probe results describe an organisation's connections).
const defaultExporterListen = "127.0.0.1:9834"

type exporterFlags struct {
	config        string
	listen        string
	webConfig     string
	maxConcurrent int
	timeoutOffset time.Duration
}

func (a *app) exporterCommand() *cobra.Command {
	var f exporterFlags
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve Prometheus: probe every configured mailbox on demand (/probe), with service discovery (/sd)",
		Long: `Run a Prometheus exporter in the blackbox_exporter's multi-target pattern: Prometheus
discovers the configured mailboxes from /sd and scrapes /probe?target=NAME&module=MODULE.
Modules: check (the checks, no message sent; the default), identity (the keystore,
certificate and CA bundle files only; no network), roundtrip (send a message to the
mailbox itself, receive and acknowledge it; at most once per modules.roundtrip.min_interval,
the last result served in between; only for targets that list it, never to live MESH
unless the target says allow_live: true).

Endpoints: /probe (add &debug=true for the report as text), /metrics (the exporter's own),
/sd (Prometheus HTTP service discovery), /-/healthy, /-/reload (POST; SIGHUP too, except
on Windows), and / (the targets and their last results). A config that cannot be served is refused at
start (exit 2) and on reload (the previous one is kept).

The config is YAML; secrets only by reference ({env: NAME} or {file: PATH}):
  targets:
    - name: x26abc1-int
      env: int
      mailbox: X26ABC1
      keystore: /etc/meshdoctor/x26abc1.p12
      ca_bundle: /etc/meshdoctor/int-ca.pem
      secrets:
        mailbox_password: {env: X26ABC1_PASSWORD}
        shared_key: {file: /run/secrets/mesh_shared_key}
      modules: [check, identity]
      labels: {organisation: RXX}
  modules:
    roundtrip: {min_interval: 15m}

` + exitCodesHelp,
		Example: `  meshdoctor exporter --config meshdoctor.yml
  meshdoctor exporter --config meshdoctor.yml --listen :9834 --web.config.file web.yml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.exporter(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the exporter's YAML configuration (required)")
	fl.StringVar(&f.listen, "listen", defaultExporterListen, "address to listen on")
	fl.StringVar(&f.webConfig, "web.config.file", "", "Prometheus web configuration file: TLS and basic auth for the exporter's listener")
	fl.IntVar(&f.maxConcurrent, "max-concurrent", 16, "most probes running at once, over all targets")
	fl.DurationVar(&f.timeoutOffset, "timeout-offset", 500*time.Millisecond, "taken off the scrape's timeout (X-Prometheus-Scrape-Timeout-Seconds) so the answer is in time")
	return cmd
}

func (a *app) exporter(ctx context.Context, f exporterFlags) error {
	switch {
	case f.config == "":
		return usagef("no configuration: pass --config meshdoctor.yml")
	case f.maxConcurrent < 1:
		return usagef("--max-concurrent must be at least 1")
	case f.timeoutOffset < 0:
		return usagef("--timeout-offset must not be negative")
	}
	if err := checkListen(f.listen, "127.0.0.1:9834"); err != nil {
		return err
	}
	if f.webConfig != "" {
		if err := web.Validate(f.webConfig); err != nil {
			return usagef("--web.config.file %s: %v", f.webConfig, err)
		}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, nil))
	build := buildinfo.Get()
	exp, err := exporter.New(exporter.Options{
		ConfigFile: f.config, Getenv: a.getenv, Version: build.Version, Revision: build.Commit,
		MaxConcurrent: f.maxConcurrent, TimeoutOffset: f.timeoutOffset, Log: log,
	})
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", f.listen)
	if sockerr.InUse(err) {
		// Winsock's words differ from Linux's; say it the same everywhere.
		return cannotRunError{fmt.Errorf("--listen %s: address already in use (another exporter or program listens there; choose another address with --listen)", f.listen)}
	}
	if err != nil {
		return cannotRunError{fmt.Errorf("--listen %s: %w", f.listen, err)}
	}
	srv := &http.Server{Handler: exp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				srv.Shutdown(shut)
				cancel()
				return
			case <-hup:
				exp.Reload() // logs a refusal itself; the old config stays
			}
		}
	}()
	log.Info("meshdoctor exporter started", "version", build.Version, "targets", len(exp.Config().Targets))
	err = web.Serve(ln, srv, &web.FlagConfig{WebListenAddresses: &[]string{f.listen}, WebConfigFile: &f.webConfig}, log)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return cannotRunError{fmt.Errorf("serve: %w", err)}
}
