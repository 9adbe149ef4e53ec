package mesh

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clCountConns serves f and counts the TCP connections it accepts.
func clCountConns(t *testing.T, f *clFake) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// Every answer's body is read and closed on every path, successes and
// failures alike, so one connection carries the whole conversation.
func TestClientReusesConnectionOnEveryPath(t *testing.T) {
	f := newClFake(t)
	bigPage := "<html>" + strings.Repeat("proxy error page ", 6000) + "</html>" // ~100 KB, over maxErrorBody
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasSuffix(r.URL.Path, "/inbox/HTML500"):
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, bigPage)
		case strings.HasSuffix(r.URL.Path, "/inbox/EMPTY403"):
			w.WriteHeader(http.StatusForbidden)
		case strings.HasSuffix(r.URL.Path, "/inbox/GONE"):
			f.fail(w, 2, http.StatusGone, "SEND", "", "Message no longer available for download")
		case strings.HasSuffix(r.URL.Path, "/inbox/REPORT"):
			w.Header().Set(HeaderMessageType, "REPORT")
			w.Header().Set(HeaderChunkRange, "1:0")
			w.WriteHeader(http.StatusOK)
		case strings.HasSuffix(r.URL.Path, "/inbox/BAD206"):
			w.WriteHeader(http.StatusPartialContent)
			_, _ = io.WriteString(w, strings.Repeat("x", 10000))
		case strings.HasSuffix(r.URL.Path, "/inbox/NOTGZIP"):
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, strings.Repeat("not gzip ", 1000))
		case strings.HasSuffix(r.URL.Path, "/outbox/tracking") && r.URL.Query().Get("messageID") == "HTML200":
			_, _ = io.WriteString(w, bigPage)
		default:
			return false
		}
		return true
	}
	srv, conns := clCountConns(t, f)
	c := f.client(srv, clSender, func(cfg *Config) { cfg.ChunkSize = 3; cfg.MaxRetries = -1 })
	ctx := context.Background()
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	fails := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
	}
	ok(c.Handshake(ctx))
	ok(c.Ping(ctx))
	id, err := c.Send(ctx, Message{To: clSender, WorkflowID: clWorkflow}, strings.NewReader("abcdefgh"), 8)
	ok(err)
	gz, err := c.Send(ctx, Message{To: clSender, WorkflowID: clWorkflow, Gzip: true}, strings.NewReader("abcdefgh"), 8)
	ok(err)
	_, err = c.Send(ctx, Message{To: "NOBODY1", WorkflowID: clWorkflow}, strings.NewReader("abc"), 3) // 417
	fails(err)
	_, err = c.ListAll(ctx, ListOptions{MaxResults: 10})
	ok(err)
	_, err = c.Count(ctx)
	ok(err)
	_, err = c.Head(ctx, id)
	ok(err)
	_, err = c.Download(ctx, id, io.Discard)
	ok(err)
	_, err = c.Download(ctx, gz, io.Discard)
	ok(err)
	// A writer that fails part-way: the rest of the body is drained.
	_, err = c.Download(ctx, id, clFailingWriter{})
	fails(err)
	for _, bad := range []string{"HTML500", "EMPTY403", "GONE", "BAD206", "NOTGZIP", "NOSUCH"} {
		_, err = c.Download(ctx, bad, io.Discard)
		fails(err)
	}
	_, err = c.Download(ctx, "REPORT", io.Discard)
	ok(err)
	ok(c.Acknowledge(ctx, id))
	fails(c.Acknowledge(ctx, "NOSUCH"))
	_, err = c.Track(ctx, gz)
	ok(err)
	_, err = c.Track(ctx, "HTML200")
	fails(err)
	_, err = c.Track(ctx, "NOSUCH")
	fails(err)
	_, err = c.LookupEndpoint(ctx, "X26", clWorkflow)
	ok(err)
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for one client, want 1: a body was left unread or unclosed", n)
	}
}

type clFailingWriter struct{}

func (clFailingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Cancelling the context part-way through a download ends it at once,
// with the context's error, and without a retry.
func TestClientCancelMidDownload(t *testing.T) {
	f := newClFake(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", "2000000")
		_, _ = w.Write(bytes.Repeat([]byte("a"), 64<<10))
		w.(http.Flusher).Flush()
		select { // the rest never comes
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	c := f.client(f.start(), clRecipient, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &clCancelWriter{cancel: cancel}
	start := time.Now()
	info, err := c.Download(ctx, "M1", w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if info.Size == 0 {
		t.Error("no bytes reported before the cancel")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

// clCancelWriter cancels its context on the first write.
type clCancelWriter struct {
	cancel context.CancelFunc
	n      int
}

func (w *clCancelWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	w.cancel()
	return len(p), nil
}

// Cancelling part-way through an upload ends it at once: the first POST
// and a later chunk alike, neither retried.
func TestClientCancelMidUpload(t *testing.T) {
	for _, chunk := range []int{1, 2} {
		for _, gz := range []bool{false, true} {
			f := newClFake(t)
			var started atomic.Bool
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if chunk == 1 || strings.Contains(r.URL.Path, "/outbox/") {
					// Read a little, then stall until the test is done
					// (the server cannot see the client go while it
					// leaves the body unread).
					_, _ = r.Body.Read(make([]byte, 1024))
					started.Store(true)
					<-release
					return
				}
				f.ServeHTTP(w, r)
			}))
			c := f.client(srv, clSender, func(cfg *Config) { cfg.ChunkSize = 4 << 20 })
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for !started.Load() {
					select {
					case <-ctx.Done():
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
				cancel()
			}()
			start := time.Now()
			body := clStream{bytes.NewReader(clPattern(6 << 20))}
			_, err := c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow, Gzip: gz}, body, 6<<20)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("chunk %d gzip %v: err = %v", chunk, gz, err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("chunk %d: took %s", chunk, took)
			}
			close(release)
			srv.Close()
			if n := len(f.uploads()); chunk == 2 && n != 1 {
				t.Errorf("chunk %d: %d uploads reached the fake", chunk, n)
			}
		}
	}
}

// The first POST is never sent twice, even when the connection is reset
// after the request was written (fresh or reused connection): MESH keeps
// every copy it receives. A later chunk is retried with the same bytes and
// a new token, from a ReaderAt and from the buffered path alike.
func TestClientConnectionResetAfterWrite(t *testing.T) {
	reset := func(w http.ResponseWriter) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	}
	for _, warm := range []bool{false, true} {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if clIsFirstPost(r) {
				reset(w) // the fake has read the whole request already
				return true
			}
			return false
		}
		c := f.client(f.start(), clSender, nil)
		if warm {
			if err := c.Handshake(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
		if err == nil {
			t.Fatalf("warm=%v: a reset first POST succeeded", warm)
		}
		if n := len(f.uploads()); n != 1 {
			t.Errorf("warm=%v: first POST arrived %d times", warm, n)
		}
	}

	bodies := map[string]func() io.Reader{
		"ReaderAt": func() io.Reader { return bytes.NewReader([]byte("abcdefgh")) },
		"stream":   func() io.Reader { return clStream{strings.NewReader("abcdefgh")} },
	}
	for name, body := range bodies {
		for _, gz := range []bool{false, true} {
			f := newClFake(t)
			var n atomic.Int32
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/2") && n.Add(1) <= 2 {
					reset(w)
					return true
				}
				return false
			}
			c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4 })
			id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow, Gzip: gz}, body(), 8)
			if err != nil {
				t.Fatalf("%s gzip=%v: %v", name, gz, err)
			}
			if got := string(f.payload(id)); got != "abcdefgh" {
				t.Errorf("%s gzip=%v: payload %q", name, gz, got)
			}
			var chunk2 []clRequest
			for _, r := range f.uploads() {
				if strings.HasSuffix(r.Path, "/2") {
					chunk2 = append(chunk2, r)
				}
			}
			if len(chunk2) != 3 {
				t.Fatalf("%s gzip=%v: chunk 2 sent %d times, want 3", name, gz, len(chunk2))
			}
			tokens := map[string]bool{}
			for _, r := range chunk2 {
				if !bytes.Equal(r.Body, chunk2[0].Body) || r.Header.Get(HeaderChunkRange) != "2:2" {
					t.Errorf("%s gzip=%v: a retry changed the chunk", name, gz)
				}
				tokens[r.Header.Get("Authorization")] = true
			}
			if len(tokens) != 3 {
				t.Errorf("%s gzip=%v: a token was reused on retry", name, gz)
			}
		}
	}
}

// No goroutine outlives the client: successes, failures, retries,
// cancellations, timeouts and uploads all clean up once idle connections
// are closed.
func TestClientLeavesNoGoroutines(t *testing.T) {
	settle := func() int {
		var n int
		for range 50 {
			runtime.GC()
			n = runtime.NumGoroutine()
			time.Sleep(5 * time.Millisecond)
			if n == runtime.NumGoroutine() {
				break
			}
		}
		return n
	}
	before := settle()
	func() {
		f := newClFake(t)
		var slow atomic.Bool
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			switch {
			case strings.HasSuffix(r.URL.Path, "/inbox/SLOW"):
				w.Header().Set("Content-Length", "100000")
				_, _ = w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return true
			case strings.HasSuffix(r.URL.Path, "/inbox/BUSY"):
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			case strings.HasSuffix(r.URL.Path, "/count") && slow.CompareAndSwap(false, true):
				time.Sleep(200 * time.Millisecond)
			}
			return false
		}
		srv := httptest.NewServer(f)
		defer srv.Close()
		c := f.client(srv, clSender, func(cfg *Config) { cfg.ChunkSize = 3; cfg.Timeout = 100 * time.Millisecond })
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				id, err := c.Send(ctx, Message{To: clSender, WorkflowID: clWorkflow, Gzip: true}, strings.NewReader("abcdefghij"), -1)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Download(ctx, id, io.Discard); err != nil {
					t.Error(err)
				}
				_ = c.Acknowledge(ctx, id)
			})
		}
		wg.Wait()
		_, _ = c.ListAll(ctx, ListOptions{MaxResults: 10})
		_, _ = c.Download(ctx, "BUSY", io.Discard) // retried, then given up
		_, _ = c.Count(ctx)                        // times out
		cctx, cancel := context.WithCancel(ctx)
		_, _ = c.Download(cctx, "SLOW", &clCancelWriter{cancel: cancel})
		cancel()
		c.CloseIdleConnections()
		srv.CloseClientConnections()
	}()
	deadline := time.Now().Add(5 * time.Second)
	after := settle()
	for after > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = settle()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// Nothing a server echoes back puts a secret in an error: not the
// password, the shared key, the Authorization value or its HMAC, whether
// the echo is in an error body, a success body that is not JSON, a send
// answer without an id, or a links.next.
func TestClientScrubsEchoedSecrets(t *testing.T) {
	var lastAuth atomic.Value
	echo := func(r *http.Request) string {
		auth := r.Header.Get("Authorization")
		lastAuth.Store(auth)
		return "Request headers: Authorization: " + auth + "; password=" + clPassword + " key=" + clSharedKey +
			" json=" + strings.ReplaceAll(clPassword, "-", `\u002d`)
	}
	tests := []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request) bool
		call func(c *Client) error
	}{
		{"502 page", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>"+echo(r)+"</html>")
			return true
		}, func(c *Client) error { return c.Handshake(context.Background()) }},
		{"417 JSON", func(w http.ResponseWriter, r *http.Request) bool {
			f := &clFake{}
			f.fail(w, 1, http.StatusExpectationFailed, "SEND", "12", echo(r))
			return true
		}, func(c *Client) error {
			_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
			return err
		}},
		{"200 not JSON", func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, "<html>"+echo(r)+"</html>")
			return true
		}, func(c *Client) error { _, err := c.ListInbox(context.Background(), ListOptions{}); return err }},
		{"202 without id", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"note": "`+echo(r)+`"}`)
			return true
		}, func(c *Client) error {
			_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
			return err
		}},
		{"2xx error body", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"errorEvent": "SEND", "errorCode": "12", "errorDescription": "`+echo(r)+`"}`)
			return true
		}, func(c *Client) error {
			_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
			return err
		}},
		{"links.next", func(w http.ResponseWriter, r *http.Request) bool {
			auth := r.Header.Get("Authorization")
			lastAuth.Store(auth)
			clWriteJSON(w, http.StatusOK, map[string]any{"messages": []string{"A"}, "links": map[string]string{"next": "https://elsewhere.example/x?auth=" + auth}})
			return true
		}, func(c *Client) error { _, err := c.ListAll(context.Background(), ListOptions{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.hook = tt.hook
			c := f.client(f.start(), clSender, func(cfg *Config) { cfg.MaxRetries = -1 })
			err := tt.call(c)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			auth, _ := lastAuth.Load().(string)
			tok, perr := ParseToken(auth)
			if perr != nil {
				t.Fatalf("no token seen: %v", perr)
			}
			for _, secret := range []string{clPassword, clSharedKey, TokenScheme + " ", tok.HMAC, tok.Nonce} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows %q: %s", secret, msg)
				}
			}
			if e, ok := AsAPIError(err); ok {
				for _, field := range []string{e.Description, e.Body, e.Event, e.Code, e.MessageID} {
					if strings.Contains(field, clPassword) || strings.Contains(field, tok.HMAC) {
						t.Errorf("APIError field shows a secret: %q", field)
					}
				}
			}
		})
	}
}

func TestClientScrubTokens(t *testing.T) {
	c := &Client{creds: Credentials{Mailbox: "X26ABC1", Password: "pw", SharedKey: "s3cr3t-key"}}
	tests := map[string]string{
		"Authorization: NHSMESH X26ABC1:n:0:202401011200:abc, next": "Authorization: [REDACTED], next",
		"nhsmesh  X:1:2:3:4\nrest":                                  "[REDACTED]\nrest",
		`{"a": "NHSMESH X:1"}`:                                      `{"a": "[REDACTED]"}`,
		"key s3cr3t-key and pw stays":                               "key [REDACTED] and pw stays", // a 2-letter password would mangle words
		"ünïcödé NHSMESH x ß":                                       "ünïcödé [REDACTED] ß",
		"nothing here":                                              "nothing here",
	}
	for in, want := range tests {
		if got := string(c.scrub(nil, []byte(in))); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// The client lets an idle connection go before the proxies in front of
// MESH do (nginx 75 s, load balancers 60 s).
func TestClientIdleTimeoutBelowServers(t *testing.T) {
	c, err := NewClient(Config{BaseURL: "https://msg.intspineservices.nhs.uk", Credentials: clCreds(clSender)})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.own.IdleConnTimeout; d <= 0 || d >= 60*time.Second {
		t.Errorf("IdleConnTimeout %s", d)
	}
}

// clEndless is an endless body.
type clEndless struct{}

func (clEndless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// An endless answer, error or success, is read only up to a bound: the
// call returns, the error is short, and the connection is dropped.
func TestClientBoundsAnswerBodies(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusOK} {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(status)
			_, _ = io.Copy(w, clEndless{})
			return true
		}
		c := f.client(f.start(), clRecipient, func(cfg *Config) { cfg.MaxRetries = -1 })
		start := time.Now()
		_, err := c.ListInbox(context.Background(), ListOptions{})
		if err == nil || len(err.Error()) > 400 {
			t.Errorf("%d: err = %.400v", status, err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%d: took %s", status, took)
		}
	}
}
