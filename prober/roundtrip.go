package prober

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
)

// RoundTripOptions shape one round trip.
type RoundTripOptions struct {
	// Size of the test message; Chunk the chunk size (default 20 MiB).
	Size  int64
	Chunk int64
	Gzip  bool
	// V1 uses version 1 of the MESH API.
	V1            bool
	ClientVersion string
	// ListWait bounds the wait for the message to be listed (default 90 s);
	// PollInterval is how often the inbox is listed meanwhile (default 5 s).
	ListWait     time.Duration
	PollInterval time.Duration
	// OnStep, when not nil, is called as each step finishes, in order.
	OnStep func(Step)
	// DiagnoseTimeout is each check's time when a failed step is
	// diagnosed (default 10 s).
	DiagnoseTimeout time.Duration
}

// StepStatus is how a step of the round trip ended.
type StepStatus string

// The step statuses. Note is the clean-up's report, not a step's verdict.
const (
	StepOK   StepStatus = "ok"
	StepFail StepStatus = "fail"
	StepSkip StepStatus = "skip"
	StepNote StepStatus = "note"
)

// Step is one step of the round trip.
type Step struct {
	Name   string
	Status StepStatus
	// Detail is what was done (ok), the error on one line (fail), or why
	// (skip, note).
	Detail string
	Took   time.Duration
	// Hint says what a MESH refusal of the test message means; Cause is the
	// first check that fails against the target, when a failed step has no
	// hint (the connection's diagnosis lives in the checks).
	Hint  string
	Cause *checks.Result
}

// WriteStep prints a step as the roundtrip command shows it, with the
// hint or the cause and fix under a failure.
func WriteStep(w io.Writer, s Step) {
	switch s.Status {
	case StepOK:
		fmt.Fprintf(w, "  ok    %-12s %s (%s)\n", s.Name, s.Detail, s.Took)
	case StepSkip:
		fmt.Fprintf(w, "  skip  %-12s %s\n", s.Name, s.Detail)
	case StepNote:
		fmt.Fprintf(w, "  note  %-12s %s\n", s.Name, s.Detail)
	case StepFail:
		fmt.Fprintf(w, "  FAIL  %-12s %s\n", s.Name, s.Detail)
		switch {
		case s.Hint != "":
			fmt.Fprintf(w, "        %-12s %s\n", "", s.Hint)
		case s.Cause != nil:
			fmt.Fprintf(w, "        %-12s %s: %s\n", "cause", s.Cause.ID, s.Cause.Summary)
			if s.Cause.Remediation != "" {
				fmt.Fprintf(w, "        %-12s %s\n", "fix", s.Cause.Remediation)
			}
		}
	}
}

// RoundTripResult is a finished round trip.
type RoundTripResult struct {
	Steps                   []Step
	Passed, Failed, Skipped int
	Duration                time.Duration
}

// OK reports whether no step failed.
func (r RoundTripResult) OK() bool { return r.Failed == 0 }

// ConfigError is a target or option the round trip cannot start with (no
// credentials, no workflow, an unreadable identity): the caller's mistake.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// RoundTrip is a prepared round trip against one target.
type RoundTrip struct {
	target mesh.Target
	client *mesh.Client
	opts   RoundTripOptions
	// BaseURL is where the client talks to.
	BaseURL string
}

// NewRoundTrip checks that t can make a round trip (credentials, workflow,
// identity) and prepares its client. Errors are *ConfigError.
func NewRoundTrip(t mesh.Target, opts RoundTripOptions) (*RoundTrip, error) {
	if opts.Chunk <= 0 {
		opts.Chunk = 20 << 20
	}
	if opts.ListWait <= 0 {
		opts.ListWait = 90 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	var cfg mesh.Config
	var err error
	if cfg.TLS, err = t.TLSConfig(); err != nil {
		return nil, &ConfigError{err}
	}
	if err := RequireCredentials(t.Credentials); err != nil {
		return nil, err
	}
	if t.Workflow == "" {
		return nil, &ConfigError{fmt.Errorf("no workflow: pass --workflow with a workflow id your mailbox may send on")}
	}
	base, err := t.BaseURL()
	if err != nil {
		return nil, &ConfigError{err}
	}
	cfg.BaseURL = base
	cfg.ProxySettings = &t.Proxy
	cfg.Credentials = t.Credentials
	cfg.ChunkSize = opts.Chunk
	cfg.ClientVersion = opts.ClientVersion
	if opts.V1 {
		cfg.APIVersion = 1
	}
	client, err := mesh.NewClient(cfg)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return &RoundTrip{target: t, client: client, opts: opts, BaseURL: base}, nil
}

// RequireCredentials is the *ConfigError for a missing mailbox, password or
// shared key: every job that signs requests needs all three.
func RequireCredentials(c mesh.Credentials) error {
	switch {
	case c.Mailbox == "":
		return &ConfigError{fmt.Errorf("no mailbox: pass --mailbox or set MESH_MAILBOX_ID")}
	case c.Password == "":
		return &ConfigError{fmt.Errorf("no mailbox password: set MESH_MAILBOX_PASSWORD or MESH_MAILBOX_PASSWORD_FILE")}
	case c.SharedKey == "":
		return &ConfigError{fmt.Errorf("no shared key: set MESH_SHARED_KEY or MESH_SHARED_KEY_FILE (the environment's key from the service desk)")}
	}
	return nil
}

// Run makes the round trip: handshake, send, find, download and compare,
// acknowledge, track, and see the inbox clean. Receiving steps are skipped
// when the recipient is another mailbox. Whatever was sent to ourselves and
// not acknowledged is acknowledged on the way out, even after a failure.
func (rt *RoundTrip) Run(ctx context.Context) RoundTripResult {
	start := time.Now()
	r := &roundtripRun{RoundTrip: rt}
	payload := newPayload(rt.opts.Size)
	self := rt.target.Recipient == rt.target.Credentials.Mailbox
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
	// A monitor makes a round trip every few minutes: nothing is kept open
	// between them.
	rt.client.CloseIdleConnections()
	r.res.Duration = time.Since(start)
	return r.res
}

// roundtripRun is one pass of the round trip.
type roundtripRun struct {
	*RoundTrip
	res    RoundTripResult
	sentID string
	acked  bool
}

type stepFunc func(ctx context.Context) (detail string, err error)

func (r *roundtripRun) emit(s Step) {
	r.res.Steps = append(r.res.Steps, s)
	if r.opts.OnStep != nil {
		r.opts.OnStep(s)
	}
}

func (r *roundtripRun) step(ctx context.Context, name string, fn stepFunc) bool {
	start := time.Now()
	detail, err := fn(ctx)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		r.res.Failed++
		s := Step{Name: name, Status: StepFail, Detail: oneLine(err.Error()), Took: took, Hint: sendHint(err)}
		if s.Hint == "" {
			if res, ok := diagnose(ctx, r.target, r.opts.DiagnoseTimeout); ok {
				s.Cause = &res
			}
		}
		r.emit(s)
		return false
	}
	r.res.Passed++
	r.emit(Step{Name: name, Status: StepOK, Detail: detail, Took: took})
	return true
}

func (r *roundtripRun) skip(name, why string) {
	r.res.Skipped++
	r.emit(Step{Name: name, Status: StepSkip, Detail: why})
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
		Gzip:        r.opts.Gzip,
	}, p.reader(), r.opts.Size)
	if err != nil {
		return "", err
	}
	r.sentID = id
	return "message " + id, nil
}

func (r *roundtripRun) list(ctx context.Context) (string, error) {
	// Delivery is near-instant on the sandbox; real MESH may take a moment.
	deadline := time.Now().Add(r.opts.ListWait)
	for {
		ids, err := r.client.ListAll(ctx, mesh.ListOptions{})
		if err != nil {
			return "", err
		}
		if slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, r.sentID) }) {
			return fmt.Sprintf("found among %d message(s)", len(ids)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("message %s not in the inbox after %.0fs (%d other message(s) there)", r.sentID, r.opts.ListWait.Seconds(), len(ids))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(r.opts.PollInterval):
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
		return "", fmt.Errorf("downloaded %s whose SHA-256 %s… differs from what was sent (%s…)", FormatBytes(info.Size), got[:12], p.sum[:12])
	}
	return fmt.Sprintf("%s in %d chunk(s), SHA-256 matches", FormatBytes(info.Size), info.TotalChunks), nil
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
		r.emit(Step{Name: "cleanup", Status: StepNote, Detail: fmt.Sprintf("could not acknowledge %s: %s", r.sentID, oneLine(err.Error()))})
		return
	}
	r.emit(Step{Name: "cleanup", Status: StepNote, Detail: fmt.Sprintf("acknowledged %s so it does not linger", r.sentID)})
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

// Diagnose runs the checks (all but the source-address one, which may ask
// public services) against the target and returns the first that failed:
// the connection's hints live in one place, the checks.
func Diagnose(ctx context.Context, t mesh.Target) (checks.Result, bool) {
	return diagnose(ctx, t, 0)
}

// diagnose is Diagnose with each check's timeout (default 10 s). A step
// that failed because the round trip's time ran out (a proxy that never
// answers CONNECT, a stalled handshake) is diagnosed in time of its own:
// with the spent context every check would only say that no time was left.
func diagnose(ctx context.Context, t mesh.Target, timeout time.Duration) (checks.Result, bool) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cs, err := checks.Select(nil, []string{"geo"})
	if err != nil {
		return checks.Result{}, false
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		ctx = context.WithoutCancel(ctx)
	case ctx.Err() != nil:
		return checks.Result{}, false // interrupted: no diagnosis wanted
	}
	ctx, cancel := context.WithTimeout(ctx, 3*timeout)
	defer cancel()
	for _, r := range checks.Run(ctx, t, cs, checks.Options{Timeout: timeout}, nil) {
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

// Chunks is how many chunks a message of size takes.
func Chunks(size, chunk int64) int64 {
	if size <= chunk {
		return 1
	}
	return (size + chunk - 1) / chunk
}

// FormatBytes says a size the way a person reads it.
func FormatBytes(n int64) string {
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

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
