package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/mesh"
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
	var clientCfg mesh.Config
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
	if clientCfg.TLS, err = t.TLSConfig(); err != nil {
		return usageError{err}
	}
	if err := requireCredentials(t.Credentials); err != nil {
		return err
	}
	if t.Workflow == "" {
		return usagef("no workflow: pass --workflow with a workflow id your mailbox may send on")
	}
	chunk := int64(20 << 20)
	if f.sandbox {
		chunk = 256 << 10
	}
	if chunkFlag != 0 {
		chunk = chunkFlag
	}
	base, err := t.BaseURL()
	if err != nil {
		return usageError{err}
	}
	clientCfg.BaseURL = base
	clientCfg.Credentials = t.Credentials
	clientCfg.ChunkSize = chunk
	clientCfg.ClientVersion = buildinfo.ClientVersion()
	if f.v1 {
		clientCfg.APIVersion = 1
	}
	client, err := mesh.NewClient(clientCfg)
	if err != nil {
		return usageError{err}
	}
	if !f.sandbox {
		fmt.Fprintf(a.stdout, "MESH at %s\n", base)
	}
	fmt.Fprintf(a.stdout, "Round trip %s → %s on workflow %s: %s in %d chunk(s)%s\n\n",
		t.Credentials.Mailbox, t.Recipient, t.Workflow, formatBytes(size), chunks(size, chunk), map[bool]string{true: ", gzip", false: ""}[f.gzip])
	rt := &roundtripRun{out: a.stdout, client: client, target: t, size: size, gzip: f.gzip, chunk: chunk}
	rt.diagnose = func(ctx context.Context) (checks.Result, bool) { return diagnose(ctx, t) }
	return rt.run(ctx)
}

// Bounds of the round trip's flags, checked before anything starts.
const (
	// roundtripMaxSize: enough to exercise chunking at any chunk size
	// MESH takes; the test message is sent, stored and downloaded whole.
	roundtripMaxSize = 4 << 30
	// roundtripMinChunk: each chunk is one request.
	roundtripMinChunk = 16 << 10
)

// roundtripRun is one pass of the round trip, printed step by step.
type roundtripRun struct {
	out    io.Writer
	client *mesh.Client
	target mesh.Target
	size   int64
	chunk  int64
	gzip   bool

	passed, failed, skipped int
	sentID                  string
	acked                   bool
	// diagnose names the first check that fails against the target.
	diagnose func(context.Context) (checks.Result, bool)
}

type stepFunc func(ctx context.Context) (detail string, err error)

func (r *roundtripRun) step(ctx context.Context, name string, fn stepFunc) bool {
	start := time.Now()
	detail, err := fn(ctx)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		r.failed++
		fmt.Fprintf(r.out, "  FAIL  %-12s %s\n", name, oneLine(err.Error()))
		if hint := sendHint(err); hint != "" {
			fmt.Fprintf(r.out, "        %-12s %s\n", "", hint)
		} else if r.diagnose != nil {
			if res, ok := r.diagnose(ctx); ok {
				fmt.Fprintf(r.out, "        %-12s %s: %s\n", "cause", res.ID, res.Summary)
				if res.Remediation != "" {
					fmt.Fprintf(r.out, "        %-12s %s\n", "fix", res.Remediation)
				}
			}
		}
		return false
	}
	r.passed++
	fmt.Fprintf(r.out, "  ok    %-12s %s (%s)\n", name, detail, took)
	return true
}

func (r *roundtripRun) skip(name, why string) {
	r.skipped++
	fmt.Fprintf(r.out, "  skip  %-12s %s\n", name, why)
}

func (r *roundtripRun) run(ctx context.Context) error {
	payload := newPayload(r.size)
	self := r.target.Recipient == r.target.Credentials.Mailbox
	steps := []struct {
		name string
		fn   stepFunc
		self bool // needs the recipient to be our own mailbox
	}{
		{"handshake", r.handshake, false},
		{"send", func(ctx context.Context) (string, error) { return r.send(ctx, payload) }, false},
		{"list inbox", r.list, true},
		{"download", func(ctx context.Context) (string, error) { return r.download(ctx, payload) }, true},
		{"acknowledge", r.acknowledge, true},
		{"track", r.track, false},
		{"inbox clean", r.gone, true},
	}
	ok := true
	for _, s := range steps {
		switch {
		case !ok:
			r.skip(s.name, "skipped: an earlier step failed")
		case s.self && !self:
			r.skip(s.name, "skipped: the recipient is another mailbox; receiving needs its credentials")
		default:
			ok = r.step(ctx, s.name, s.fn)
		}
	}
	r.cleanup(self)
	fmt.Fprintf(r.out, "\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	if r.failed > 0 {
		return failedError{fmt.Sprintf("%d step(s) failed", r.failed)}
	}
	return nil
}

func (r *roundtripRun) handshake(ctx context.Context) (string, error) {
	if err := r.client.Handshake(ctx); err != nil {
		return "", err
	}
	return "mailbox " + r.target.Credentials.Mailbox + " accepted", nil
}

func (r *roundtripRun) send(ctx context.Context, p *payload) (string, error) {
	id, err := r.client.Send(ctx, mesh.Message{
		To:          r.target.Recipient,
		WorkflowID:  r.target.Workflow,
		Subject:     "meshdoctor round trip",
		LocalID:     "meshdoctor-" + p.nonce,
		FileName:    "meshdoctor-roundtrip.txt",
		Checksum:    "sha256:" + p.sum,
		ContentType: "text/plain",
		Gzip:        r.gzip,
	}, p.reader(), r.size)
	if err != nil {
		return "", err
	}
	r.sentID = id
	return "message " + id, nil
}

func (r *roundtripRun) list(ctx context.Context) (string, error) {
	// Delivery is near-instant on the sandbox; real MESH may take a moment.
	deadline := time.Now().Add(90 * time.Second)
	for {
		ids, err := r.client.ListAll(ctx, mesh.ListOptions{})
		if err != nil {
			return "", err
		}
		if slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, r.sentID) }) {
			return fmt.Sprintf("found among %d message(s)", len(ids)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("message %s not in the inbox after 90s (%d other message(s) there)", r.sentID, len(ids))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

func (r *roundtripRun) download(ctx context.Context, p *payload) (string, error) {
	h := sha256.New()
	info, err := r.client.Download(ctx, r.sentID, h)
	if err != nil {
		return "", err
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != p.sum {
		return "", fmt.Errorf("downloaded %s whose SHA-256 %s… differs from what was sent (%s…)", formatBytes(info.Size), got[:12], p.sum[:12])
	}
	return fmt.Sprintf("%s in %d chunk(s), SHA-256 matches", formatBytes(info.Size), info.TotalChunks), nil
}

func (r *roundtripRun) acknowledge(ctx context.Context) (string, error) {
	if err := r.client.Acknowledge(ctx, r.sentID); err != nil {
		return "", err
	}
	r.acked = true
	return "message " + r.sentID, nil
}

func (r *roundtripRun) track(ctx context.Context) (string, error) {
	tr, err := r.client.Track(ctx, r.sentID)
	if err != nil {
		return "", err
	}
	want := "accepted"
	if r.acked {
		want = "acknowledged"
	}
	if !strings.EqualFold(tr.Status, want) {
		return "", fmt.Errorf("tracking says %q, want %q", tr.Status, want)
	}
	return "status " + strings.ToLower(tr.Status), nil
}

func (r *roundtripRun) gone(ctx context.Context) (string, error) {
	ids, err := r.client.ListAll(ctx, mesh.ListOptions{})
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, r.sentID) }) {
		return "", fmt.Errorf("message %s is still listed after its acknowledgement", r.sentID)
	}
	return "acknowledged message no longer listed", nil
}

// cleanup acknowledges what was sent to ourselves and not yet
// acknowledged, so a failed run leaves no message behind.
func (r *roundtripRun) cleanup(self bool) {
	if r.sentID == "" || r.acked || !self {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.client.Acknowledge(ctx, r.sentID); err != nil {
		fmt.Fprintf(r.out, "  note  cleanup      could not acknowledge %s: %s\n", r.sentID, oneLine(err.Error()))
		return
	}
	fmt.Fprintf(r.out, "  note  cleanup      acknowledged %s so it does not linger\n", r.sentID)
}

// sendHint names what a MESH refusal of the test message means, for the
// errors the checks do not provoke (they send no message).
func sendHint(err error) string {
	apiErr, ok := mesh.AsAPIError(err)
	if !ok {
		return ""
	}
	switch {
	case apiErr.Code == "12":
		return "the recipient mailbox does not exist in this environment: check --recipient"
	case apiErr.Code == "16" || apiErr.Code == "17":
		return "the workflow is not allowed for this sender or recipient: check --workflow with the service desk"
	}
	return ""
}

// diagnose runs the checks (all but the source-address one, which may ask
// public services) against the target and returns the first that failed:
// the connection's hints live in one place, the checks.
func diagnose(ctx context.Context, t mesh.Target) (checks.Result, bool) {
	cs, err := checks.Select(nil, []string{"geo"})
	if err != nil {
		return checks.Result{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, r := range checks.Run(ctx, t, cs, checks.Options{Timeout: 10 * time.Second}, nil) {
		if r.Status.Failed() {
			return r, true
		}
	}
	return checks.Result{}, false
}

// payload is a test message: text lines (so gzip has something to do)
// with a per-run nonce, generated on the fly so memory stays flat.
type payload struct {
	size  int64
	nonce string
	sum   string
}

func newPayload(size int64) *payload {
	p := &payload{size: size, nonce: mesh.NewNonce()}
	h := sha256.New()
	io.Copy(h, p.reader())
	p.sum = hex.EncodeToString(h.Sum(nil))
	return p
}

func (p *payload) reader() io.Reader {
	return io.LimitReader(&lineSource{prefix: "meshdoctor round trip " + p.nonce}, p.size)
}

type lineSource struct {
	prefix string
	n      int
	buf    bytes.Buffer
}

func (l *lineSource) Read(b []byte) (int, error) {
	for l.buf.Len() < len(b) {
		l.n++
		fmt.Fprintf(&l.buf, "%s line %08d\n", l.prefix, l.n)
	}
	return l.buf.Read(b)
}

func chunks(size, chunk int64) int64 {
	if size <= chunk {
		return 1
	}
	return (size + chunk - 1) / chunk
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
