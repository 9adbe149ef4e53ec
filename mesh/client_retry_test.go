package mesh

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// clFailN answers the first n requests matching match with status (and
// Retry-After when set), then lets the fake answer.
func clFailN(n int, status int, retryAfter string, match func(r *http.Request) bool) func(http.ResponseWriter, *http.Request) bool {
	var left atomic.Int32
	left.Store(int32(n))
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) || left.Add(-1) < 0 {
			return false
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"errorEvent": "", "errorCode": "", "errorDescription": "try later"}`)
		return true
	}
}

func clPathHas(s string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, s) }
}

func clIsFirstPost(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/outbox")
}

func TestClientRetries(t *testing.T) {
	type op func(ctx context.Context, c *Client, f *clFake) error
	list := func(ctx context.Context, c *Client, _ *clFake) error {
		_, err := c.ListInbox(ctx, ListOptions{})
		return err
	}
	send := func(ctx context.Context, c *Client, _ *clFake) error {
		_, err := c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("abcdefgh"), 8)
		return err
	}
	ack := func(ctx context.Context, c *Client, f *clFake) error {
		return c.Acknowledge(ctx, f.put(clSender, clSender, nil, "", []byte("x")))
	}
	head := func(ctx context.Context, c *Client, f *clFake) error {
		_, err := c.Head(ctx, f.put(clSender, clSender, nil, "", []byte("x")))
		return err
	}
	download := func(ctx context.Context, c *Client, f *clFake) error {
		_, err := c.Download(ctx, f.put(clSender, clSender, nil, "", []byte("ab"), []byte("cd")), io.Discard)
		return err
	}
	handshake := func(ctx context.Context, c *Client, _ *clFake) error { return c.Handshake(ctx) }
	tests := []struct {
		name       string
		hook       func(http.ResponseWriter, *http.Request) bool
		op         op
		maxRetries int
		match      string // requests counted
		wantCalls  int
		wantErr    string // "" = success
	}{
		{"503 on GET retried then success", clFailN(2, 503, "", clPathHas("/inbox")), list, 0, "/inbox", 3, ""},
		{"429 425 504 retried", clChain(clFailN(1, 429, "0", clPathHas("/inbox")), clFailN(1, 425, "", clPathHas("/inbox")), clFailN(1, 504, "", clPathHas("/inbox"))), list, 0, "/inbox", 4, ""},
		{"502 on first POST not retried", clFailN(1, 502, "", clIsFirstPost), send, 0, "/outbox", 1, "502"},
		{"503 on first POST not retried", clFailN(5, 503, "", clIsFirstPost), send, 0, "/outbox", 1, "503"},
		{"503 on chunk 2 retried", clFailN(2, 503, "", clPathHas("/outbox/")), send, 0, "/outbox", 1 + 3, ""},
		{"exhausted retries", clFailN(99, 503, "", clPathHas("/inbox")), list, 2, "/inbox", 3, "gave up after 3 attempts"},
		{"chunk retries exhausted", clFailN(99, 503, "", clPathHas("/outbox/")), send, 0, "/outbox", 1 + 4, "gave up after 4 attempts"},
		{"400 not retried", clFailN(99, 400, "", clPathHas("/inbox")), list, 0, "/inbox", 1, "400"},
		{"404 not retried", clFailN(99, 404, "", clPathHas("/inbox")), list, 0, "/inbox", 1, "404"},
		{"retries off", clFailN(99, 503, "", clPathHas("/inbox")), list, -1, "/inbox", 1, "503"},
		{"Retry-After too long not waited for", clFailN(99, 429, "3600", clPathHas("/inbox")), list, 0, "/inbox", 1, "429"},
		{"PUT retried", clFailN(1, 503, "", clPathHas("/acknowledged")), ack, 0, "/acknowledged", 2, ""},
		{"HEAD retried", clFailN(1, 502, "", func(r *http.Request) bool { return r.Method == http.MethodHead }), head, 0, "/inbox/", 2, ""},
		{"download chunk 2 retried", clFailN(1, 503, "", clPathHas("/2")), download, 0, "/inbox/", 3, ""},
		{"handshake retried", clFailN(1, 503, "", func(r *http.Request) bool { return r.URL.Path == "/messageexchange/"+clSender }), handshake, 0, "/messageexchange/" + clSender, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.hook = tt.hook
			c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4; cfg.MaxRetries = tt.maxRetries })
			err := tt.op(context.Background(), c, f)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" {
				if _, ok := AsAPIError(err); !ok {
					t.Errorf("the last *APIError is not reachable: %v", err)
				}
			}
			calls := 0
			for _, r := range f.requests() {
				if strings.Contains(r.Path, tt.match) {
					calls++
				}
			}
			if calls != tt.wantCalls {
				t.Errorf("%d requests to %s, want %d", calls, tt.match, tt.wantCalls)
			}
		})
	}
}

func clChain(hooks ...func(http.ResponseWriter, *http.Request) bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		for _, h := range hooks {
			if h(w, r) {
				return true
			}
		}
		return false
	}
}

// A retried chunk carries the same bytes and a new token.
func TestClientRetriedChunkResendsSameBytes(t *testing.T) {
	f := newClFake(t)
	f.hook = clFailN(1, 503, "", clPathHas("/outbox/"))
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4 })
	for _, gz := range []bool{false, true} {
		id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow, Gzip: gz}, clStream{strings.NewReader("abcdefgh")}, 8)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(f.payload(id)); got != "abcdefgh" {
			t.Errorf("gzip=%v: payload %q", gz, got)
		}
	}
	var chunk2 []clRequest
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/2") {
			chunk2 = append(chunk2, r)
		}
	}
	if len(chunk2) != 3 { // plain: failed + retried; gzip: first try ok
		t.Fatalf("%d chunk-2 requests", len(chunk2))
	}
	if !bytes.Equal(chunk2[0].Body, chunk2[1].Body) || chunk2[0].Header.Get("Authorization") == chunk2[1].Header.Get("Authorization") {
		t.Error("the retry changed the body or reused the token")
	}
}

// clCloseFirst drops the connection without an answer on the first n
// requests matching match: "EOF before response".
func clCloseFirst(n int32, match func(*http.Request) bool) func(http.ResponseWriter, *http.Request) bool {
	var seen atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) || seen.Add(1) > n {
			return false
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
}

func TestClientRetriesConnectionErrors(t *testing.T) {
	f := newClFake(t)
	f.hook = clChain(clCloseFirst(1, clPathHas("/inbox")), clCloseFirst(1, clIsFirstPost))
	c := f.client(f.start(), clSender, nil)
	if _, err := c.ListInbox(context.Background(), ListOptions{}); err != nil {
		t.Errorf("GET after a dropped connection: %v", err)
	}
	if n := len(f.requestsTo(http.MethodGet, "/inbox")); n != 2 {
		t.Errorf("%d list requests, want 2", n)
	}
	_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
	if err == nil || !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("first POST after a dropped connection: %v", err)
	}
	if n := len(f.requestsTo(http.MethodPost, "/outbox")); n != 1 {
		t.Errorf("first POST sent %d times", n)
	}
	if !strings.HasPrefix(err.Error(), "POST /messageexchange/"+clSender+"/outbox: ") {
		t.Errorf("error lacks method and path: %v", err)
	}
}

func TestClientRetriesDialFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	c, err := NewClient(Config{BaseURL: "http://" + addr, Credentials: clCreds(clSender), RetryBackoff: time.Millisecond, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "GET /messageexchange/_ping: ") {
		t.Fatalf("err = %v", err)
	}
}

// A server certificate the client does not trust will not become trusted:
// one connection, no retry.
func TestClientDoesNotRetryCertificateErrors(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	c, err := NewClient(Config{BaseURL: srv.URL, Credentials: clCreds(clSender), RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Handshake(context.Background())
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// Cancelling the context ends a backoff at once.
func TestClientCancelStopsBackoff(t *testing.T) {
	f := newClFake(t)
	f.hook = clFailN(99, 503, "", clPathHas("/inbox"))
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.RetryBackoff = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.ListInbox(ctx, ListOptions{})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s", took)
	}
	if e, ok := AsAPIError(err); !errors.Is(err, context.Canceled) || !ok || e.StatusCode != 503 {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestClientTimeout(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(300 * time.Millisecond)
		return false
	}
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.Timeout = 30 * time.Millisecond })
	err := c.Handshake(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("a timed-out request was retried: %d requests", n)
	}
}

func TestClientParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"7", 7 * time.Second},
		{"3600", maxRetryAfter + time.Second},
		{"Mon, 01 Jan 2024 12:00:30 GMT", 30 * time.Second},
		{"Mon, 01 Jan 2024 11:00:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestClientBackoffGrowsAndCaps(t *testing.T) {
	c := &Client{backoff: 500 * time.Millisecond}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := c.backoffFor(i + 1); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	if got := c.backoffFor(40); got != maxBackoff {
		t.Errorf("attempt 40: %s", got)
	}
}

// A proxy that refused the tunnel for a reason that a second later is the
// same (credentials refused, a policy, a scheme we cannot answer) is not
// asked again: each refused login counts toward locking the account. A
// proxy that could not be reached, or could not reach MESH, may be retried.
func TestRetryableProxyRefusals(t *testing.T) {
	wrap := func(te *TunnelError) error {
		return &net.OpError{Op: "proxyconnect", Net: "tcp", Err: te}
	}
	refused := func(code int) *TunnelError {
		return &TunnelError{Kind: TunnelRefused, Answer: TunnelAnswer{Code: code}}
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"credentials refused", wrap(&TunnelError{Kind: TunnelAuthRefused}), false},
		{"no credentials", wrap(&TunnelError{Kind: TunnelAuthRequired}), false},
		{"Kerberos only", wrap(&TunnelError{Kind: TunnelAuthUnsupported}), false},
		{"policy 403", wrap(refused(403)), false},
		{"https:// to a plain proxy", wrap(&TunnelError{Kind: TunnelTLS, NotTLS: true}), false},
		{"not an HTTP proxy", wrap(&TunnelError{Kind: TunnelProtocol, Err: errors.New("malformed")}), false},
		{"proxy down", wrap(&TunnelError{Kind: TunnelUnreachable, Err: syscall.ECONNREFUSED}), true},
		{"proxy cannot reach MESH", wrap(refused(503)), true},
		{"proxy gateway timeout", wrap(refused(504)), true},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("%s: retryable = %v, want %v", c.name, got, c.want)
		}
	}
}
