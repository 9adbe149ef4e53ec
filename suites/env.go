package suites

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/mesh"
)

// env is what the specs of one run share: the clients, a raw HTTP client
// for the requests mesh.Client refuses to make (crafted tokens, empty
// bodies, chunk-level downloads), and the ledger of what was sent.
type env struct {
	opts    Options
	base    string
	runID   string
	sender  *mesh.Client
	receive *mesh.Client // the recipient's client; sender's when self
	// v1 clients speak version 1 of the API.
	senderV1, receiveV1 *mesh.Client
	// cleaner acknowledges on the way out: its own generous timeout, so a
	// slow server or an expired spec deadline does not leave messages behind.
	cleaner *mesh.Client
	raw     *http.Client
	ledger  ledger
	cleanup CleanupReport
	// others are inbox messages that are not the suite's: looked at once
	// (HEAD), never again, never acknowledged.
	others map[string]bool
}

// maxHeads bounds how many inbox messages the clean-up looks at in one
// pass: a busy live inbox must not cost thousands of requests.
const maxHeads = 500

// cleanupTimeout bounds the clean-up at the end of a run.
const cleanupTimeout = 2 * time.Minute

func newEnv(o Options) (*env, error) {
	base, err := o.Target.BaseURL()
	if err != nil {
		return nil, &ConfigError{Msg: err.Error()}
	}
	e := &env{opts: o, base: base, runID: randomID(), others: map[string]bool{}}
	mk := func(c mesh.Credentials, version int, timeout time.Duration) (*mesh.Client, error) {
		return mesh.NewClient(mesh.Config{
			BaseURL:       base,
			Credentials:   c,
			TLS:           o.TLS,
			APIVersion:    version,
			ChunkSize:     o.ChunkSize,
			Timeout:       timeout,
			RetryBackoff:  200 * time.Millisecond,
			ClientVersion: clientVersion(),
			ProxySettings: &o.Target.Proxy,
		})
	}
	recv := o.Target.Credentials
	if o.RecipientCredentials != nil {
		recv = *o.RecipientCredentials
	}
	for _, c := range []struct {
		dst     **mesh.Client
		creds   mesh.Credentials
		version int
		timeout time.Duration
	}{
		{&e.sender, o.Target.Credentials, 2, o.Timeout},
		{&e.senderV1, o.Target.Credentials, 1, o.Timeout},
		{&e.receive, recv, 2, o.Timeout},
		{&e.receiveV1, recv, 1, o.Timeout},
		{&e.cleaner, recv, 2, max(o.Timeout, 30*time.Second)},
	} {
		if *c.dst, err = mk(c.creds, c.version, c.timeout); err != nil {
			return nil, &ConfigError{Msg: err.Error()}
		}
	}
	tr := &http.Transport{DisableCompression: true, ForceAttemptHTTP2: true}
	if tr.DialContext, err = o.Target.Proxy.Dialer(base); err != nil {
		return nil, &ConfigError{Msg: err.Error()}
	}
	if o.TLS != nil {
		tr.TLSClientConfig = mesh.PresentAlways(o.TLS.Clone())
	}
	e.raw = &http.Client{
		Transport:     tr,
		Timeout:       o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e, nil
}

func (e *env) close() {
	for _, c := range []*mesh.Client{e.sender, e.senderV1, e.receive, e.receiveV1, e.cleaner} {
		if c != nil {
			c.CloseIdleConnections()
		}
	}
	if e.raw != nil {
		e.raw.CloseIdleConnections()
	}
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *env) mailbox() string   { return e.opts.Target.Credentials.Mailbox }
func (e *env) recipient() string { return e.opts.Target.Recipient }
func (e *env) workflow() string  { return e.opts.Target.Workflow }

// localID is the mex-LocalID of a message this run sends for purpose.
func (e *env) localID(purpose string) string { return LocalIDPrefix + e.runID + "-" + purpose }

// ledger is every message the run sent, and whether it was acknowledged.
type ledger struct {
	mu    sync.Mutex
	ids   []string
	acked map[string]bool
}

func (l *ledger) add(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acked == nil {
		l.acked = map[string]bool{}
	}
	if _, ok := l.acked[id]; !ok {
		l.ids = append(l.ids, id)
		l.acked[id] = false
	}
}

func (l *ledger) markAcked(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.acked[id]; ok {
		l.acked[id] = true
	}
}

func (l *ledger) pending() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, id := range l.ids {
		if !l.acked[id] {
			out = append(out, id)
		}
	}
	return out
}

func (l *ledger) sent() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// CleanupReport says what a run did to leave the inboxes as it found them.
type CleanupReport struct {
	// Drained is how many leftovers of earlier runs were acknowledged
	// before the specs ran.
	Drained int `json:"drained"`
	// Sent is how many messages this run sent; Acknowledged how many of
	// them it acknowledged (in the specs or on the way out).
	Sent         int `json:"sent"`
	Acknowledged int `json:"acknowledged"`
	// Leftovers are ids this run sent and could not acknowledge, with why.
	Leftovers []string `json:"leftovers,omitempty"`
	// Notes are clean-up errors worth knowing.
	Notes []string `json:"notes,omitempty"`
}

func (c *CleanupReport) note(format string, args ...any) {
	if len(c.Notes) < 20 {
		c.Notes = append(c.Notes, oneLine(fmt.Sprintf(format, args...)))
	}
}

// send sends a message to the recipient and puts its id in the ledger.
func (e *env) send(ctx context.Context, c *mesh.Client, m mesh.Message, body []byte) (string, error) {
	return e.sendStream(ctx, c, m, bytes.NewReader(body), int64(len(body)))
}

// sendStream is send with a body read as it goes, for messages too large
// to hold in memory.
func (e *env) sendStream(ctx context.Context, c *mesh.Client, m mesh.Message, body io.Reader, size int64) (string, error) {
	if m.To == "" {
		m.To = e.recipient()
	}
	if m.WorkflowID == "" {
		m.WorkflowID = e.workflow()
	}
	id, err := c.Send(ctx, m, body, size)
	switch {
	case id == "":
	case strings.EqualFold(m.To, e.recipient()):
		e.ledger.add(id)
	default:
		// Only a negative spec sends elsewhere (to a mailbox that cannot
		// exist); if MESH took it anyway, nobody here can acknowledge it.
		e.cleanup.Leftovers = append(e.cleanup.Leftovers, fmt.Sprintf("%s: sent to %s, which MESH accepted; it cannot be acknowledged from here", id, m.To))
	}
	return id, err
}

// ack acknowledges a message as the recipient.
func (e *env) ack(ctx context.Context, id string) error {
	err := e.receive.Acknowledge(ctx, id)
	if err == nil {
		e.ledger.markAcked(id)
	}
	return err
}

// drain acknowledges the leftovers of earlier runs: inbox messages whose
// local ID starts with LocalIDPrefix. Nothing else is touched (HEAD reads
// headers only, once per message).
func (e *env) drain(ctx context.Context) {
	e.sweep(ctx, "drain", LocalIDPrefix)
}

// sweep acknowledges the inbox messages whose local ID starts with prefix.
func (e *env) sweep(ctx context.Context, what, prefix string) {
	ids, err := e.cleaner.ListAll(ctx, mesh.ListOptions{})
	if err != nil {
		e.cleanup.note("%s: list inbox: %v", what, err)
		return
	}
	heads := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		key := strings.ToUpper(id)
		if e.others[key] {
			continue
		}
		if heads++; heads > maxHeads {
			e.cleanup.note("%s: looked at the first %d messages of a larger inbox only", what, maxHeads)
			return
		}
		info, err := e.cleaner.Head(ctx, id)
		if err != nil {
			continue
		}
		if !strings.HasPrefix(info.LocalID, prefix) {
			if !strings.HasPrefix(info.LocalID, LocalIDPrefix) {
				e.others[key] = true
			}
			continue
		}
		if err := e.cleaner.Acknowledge(ctx, id); err != nil {
			e.cleanup.note("%s: acknowledge %s: %v", what, id, err)
			continue
		}
		if strings.HasPrefix(info.LocalID, LocalIDPrefix+e.runID) {
			e.ledger.add(id)
			e.ledger.markAcked(id)
		} else {
			e.cleanup.Drained++
		}
	}
}

// finish acknowledges whatever the run sent and did not acknowledge, waiting
// for late deliveries up to the timeout, then sweeps messages of this run
// whose id it never learned (a send that timed out after MESH took it).
func (e *env) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	deadline := time.Now().Add(min(e.opts.Timeout, cleanupTimeout))
	for {
		for _, id := range e.ledger.pending() {
			if err := e.cleaner.Acknowledge(ctx, id); err == nil {
				e.ledger.markAcked(id)
			}
		}
		e.drainRun(ctx)
		if len(e.ledger.pending()) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(e.opts.PollInterval, time.Until(deadline))):
		}
	}
	e.cleanup.Sent = e.ledger.sent()
	pending := e.ledger.pending()
	e.cleanup.Acknowledged = e.cleanup.Sent - len(pending)
	for _, id := range pending {
		why := "not delivered to the inbox before the clean-up gave up"
		if _, err := e.cleaner.Head(ctx, id); err != nil {
			why = oneLine(err.Error())
		}
		e.cleanup.Leftovers = append(e.cleanup.Leftovers, id+": "+why)
	}
}

// drainRun acknowledges inbox messages of this run only.
func (e *env) drainRun(ctx context.Context) { e.sweep(ctx, "clean-up", LocalIDPrefix+e.runID) }

// rawResponse is an answer to a raw request, body read (bounded).
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// noToken asks rawDo to send no Authorization header.
const noToken = "-"

// rawDo makes one request outside mesh.Client. token "" signs with a fresh
// token for creds; noToken sends none; anything else is sent as is.
func (e *env) rawDo(ctx context.Context, creds mesh.Credentials, method, path string, h http.Header, body []byte, token string) (*rawResponse, error) {
	u, err := url.Parse(e.base + path)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", mesh.AcceptV2)
	}
	switch token {
	case "":
		req.Header.Set("Authorization", mesh.NewToken(creds, time.Now()))
	case noToken:
	default:
		req.Header.Set("Authorization", token)
	}
	resp, err := e.raw.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	// A server (or a proxy page) may echo the request: nothing secret
	// reaches a failure message or a report entry.
	secrets := []string{req.Header.Get("Authorization"), creds.Password, creds.SharedKey,
		e.opts.Target.Credentials.Password, e.opts.Target.Credentials.SharedKey}
	if rc := e.opts.RecipientCredentials; rc != nil {
		secrets = append(secrets, rc.Password, rc.SharedKey)
	}
	for _, secret := range secrets {
		if len(secret) >= 4 {
			b = bytes.ReplaceAll(b, []byte(secret), []byte("[REDACTED]"))
		}
	}
	return &rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// clientVersion is the conformance specs' mex-ClientVersion: named apart
// from the checks' traffic in MESH's logs, with the version every other
// header names.
func clientVersion() string { return "meshdoctor-conform==" + buildinfo.Version() }

// handshakeHeader is what a handshake carries beside the token.
func handshakeHeader() http.Header {
	return http.Header{
		"Mex-Clientversion": {clientVersion()},
		"Mex-Osname":        {runtime.GOOS},
		"Mex-Osversion":     {"n/a"},
	}
}

// mailboxPath is /messageexchange/{mailbox}.
func mailboxPath(mb string) string { return mesh.PathPrefix + "/" + url.PathEscape(mb) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
