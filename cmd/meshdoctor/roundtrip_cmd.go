package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/prober"
	"github.com/meshdoctor/meshdoctor/suites"
)

type roundtripFlags struct {
	target    targetFlags
	sandbox   bool
	size      string
	chunkSize string
	gzip      bool
	v1        bool
}

func (a *app) roundtripCommand() *cobra.Command {
	var f roundtripFlags
	cmd := &cobra.Command{
		Use:   "roundtrip",
		Short: "Handshake, send a message to yourself, find it, download, check and acknowledge it",
		Long: `Prove a mailbox works end to end: handshake, send a test message (chunked and gzip-compressed
when it is larger than the chunk size), find it in the inbox, download it, compare it with
what was sent, acknowledge it, and see the sender's tracking say "acknowledged".

The message goes to your own mailbox unless --recipient says otherwise (then only the
sending side is proven: receiving needs the recipient's credentials). Every message sent
is acknowledged again on the way out, even after a failure.

With --sandbox, an embedded MESH sandbox is started in-process and used instead.

` + targetEnvHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor roundtrip --sandbox
  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor roundtrip --env int --mailbox X26ABC1 \
      --keystore int.p12 --ca-bundle nhs-int-ca-bundle.pem --workflow MY_WORKFLOW`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.roundtrip(cmd.Context(), f)
		},
	}
	f.target.register(cmd.Flags())
	fl := cmd.Flags()
	fl.BoolVar(&f.sandbox, "sandbox", false, "start an embedded MESH sandbox and run against it")
	fl.StringVar(&f.size, "size", "1MiB", "size of the test message, at most 4GiB")
	fl.StringVar(&f.chunkSize, "chunk-size", "", "chunk size, 16KiB to 100MB (default 256KiB on the sandbox, 20MiB elsewhere)")
	fl.BoolVar(&f.gzip, "gzip", true, "gzip each chunk on the way up (Content-Encoding: gzip)")
	fl.BoolVar(&f.v1, "v1", false, "use version 1 of the MESH API instead of version 2")
	return cmd
}

func (a *app) roundtrip(ctx context.Context, f roundtripFlags) error {
	size, err := parseSize(f.size)
	if err != nil {
		return usagef("--size: %v", err)
	}
	if size > roundtripMaxSize {
		return usagef("--size %s: at most %s: a round trip proves the path with one test message, and a larger one would only be uploaded, stored (with --sandbox, on this machine) and downloaded again", f.size, formatBytes(roundtripMaxSize))
	}
	var chunkFlag int64
	if f.chunkSize != "" {
		if chunkFlag, err = parseSize(f.chunkSize); err != nil {
			return usagef("--chunk-size: %v", err)
		}
		switch {
		case chunkFlag < roundtripMinChunk:
			return usagef("--chunk-size %s: at least %s; every chunk is a request, so smaller chunks only make many more of them", f.chunkSize, formatBytes(roundtripMinChunk))
		case chunkFlag > suites.MaxChunkSize:
			return usagef("--chunk-size %s: at most 100MB, MESH's limit on one request", f.chunkSize)
		}
	}
	var t mesh.Target
	if f.sandbox {
		if f.target != (targetFlags{}) {
			return usagef("--sandbox runs against its own embedded sandbox: drop the target flags, or drop --sandbox")
		}
		// The same embedded sandbox, with its files, as 'check --sandbox',
		// so that a failure can be diagnosed by the checks.
		var cleanup func()
		if t, _, cleanup, err = a.checkTarget(checkFlags{sandbox: "none"}); err != nil {
			return err
		}
		defer cleanup()
		fmt.Fprintf(a.stdout, "Embedded MESH sandbox at %s (mutual TLS, single-use tokens)\n", t.URL)
	} else {
		if t, err = a.resolveTarget(f.target); err != nil {
			return err
		}
		if t.IsLive() && !f.target.allowLive {
			return usagef("refusing to send a test message to live MESH: pass --allow-live if you mean it")
		}
	}
	chunk := int64(20 << 20)
	if f.sandbox {
		chunk = 256 << 10
	}
	if chunkFlag != 0 {
		chunk = chunkFlag
	}
	rt, err := prober.NewRoundTrip(t, prober.RoundTripOptions{
		Size: size, Chunk: chunk, Gzip: f.gzip, V1: f.v1,
		ClientVersion: "meshdoctor==" + buildVersion(),
		OnStep:        a.printStep,
	})
	if err != nil {
		return usageError{err}
	}
	if !f.sandbox {
		fmt.Fprintf(a.stdout, "MESH at %s\n", rt.BaseURL)
	}
	fmt.Fprintf(a.stdout, "Round trip %s → %s on workflow %s: %s in %d chunk(s)%s\n\n",
		t.Credentials.Mailbox, t.Recipient, t.Workflow, formatBytes(size), prober.Chunks(size, chunk), map[bool]string{true: ", gzip", false: ""}[f.gzip])
	res := rt.Run(ctx)
	fmt.Fprintf(a.stdout, "\n%d passed, %d failed, %d skipped\n", res.Passed, res.Failed, res.Skipped)
	if !res.OK() {
		return failedError{fmt.Sprintf("%d step(s) failed", res.Failed)}
	}
	return nil
}

// Bounds of the round trip's flags, checked before anything starts.
const (
	// roundtripMaxSize: enough to exercise chunking at any chunk size
	// MESH takes; the test message is sent, stored and downloaded whole.
	roundtripMaxSize = 4 << 30
	// roundtripMinChunk: each chunk is one request.
	roundtripMinChunk = 16 << 10
)

// printStep prints one step of the round trip as it finishes.
func (a *app) printStep(s prober.Step) { prober.WriteStep(a.stdout, s) }

func formatBytes(n int64) string { return prober.FormatBytes(n) }
