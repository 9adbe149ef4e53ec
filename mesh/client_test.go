package mesh

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestClientConfigValidation(t *testing.T) {
	ok := clCreds(clSender)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"https host", Config{BaseURL: "https://msg.intspineservices.nhs.uk", Credentials: ok}, ""},
		{"trailing messageexchange", Config{BaseURL: "https://msg.intspineservices.nhs.uk/messageexchange/", Credentials: ok}, ""},
		{"loopback https with port", Config{BaseURL: "https://127.0.0.1:8700", Credentials: ok}, ""},
		{"loopback http", Config{BaseURL: "http://localhost:8700", Credentials: ok}, ""},
		{"ipv6 loopback http", Config{BaseURL: "http://[::1]:8700", Credentials: ok}, ""},
		{"http to a real host", Config{BaseURL: "http://msg.intspineservices.nhs.uk", Credentials: ok}, "plain http is allowed only to a loopback host"},
		{"empty URL", Config{Credentials: ok}, "BaseURL is empty"},
		{"no scheme", Config{BaseURL: "msg.intspineservices.nhs.uk", Credentials: ok}, "want https://host"},
		{"ftp", Config{BaseURL: "ftp://msg.intspineservices.nhs.uk", Credentials: ok}, "want https://host"},
		{"other path", Config{BaseURL: "https://h.example/mesh", Credentials: ok}, "unexpected path"},
		{"query", Config{BaseURL: "https://h.example/?a=b", Credentials: ok}, "query or fragment"},
		{"userinfo", Config{BaseURL: "https://user:" + clPassword + "@h.example", Credentials: ok}, "must not carry a user name or password"},
		{"no mailbox", Config{BaseURL: "https://h.example"}, "Mailbox is empty"},
		{"version 3", Config{BaseURL: "https://h.example", Credentials: ok, APIVersion: 3}, "want 1 or 2"},
		{"negative chunk size", Config{BaseURL: "https://h.example", Credentials: ok, ChunkSize: -1}, "at least 1 byte"},
		{"negative backoff", Config{BaseURL: "https://h.example", Credentials: ok, RetryBackoff: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				if c.host == "" || c.mailboxPath != "/messageexchange/"+clSender {
					t.Errorf("host %q, mailbox path %q", c.host, c.mailboxPath)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), clPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestClientConfigDefaults(t *testing.T) {
	c, err := NewClient(Config{BaseURL: "https://msg.intspineservices.nhs.uk", Credentials: clCreds(clSender)})
	if err != nil {
		t.Fatal(err)
	}
	if c.version != 2 || c.accept[0] != AcceptV2 || c.chunkSize != 20<<20 || c.maxRetries != 3 ||
		c.backoff != 500*time.Millisecond || c.hc.Timeout != 10*time.Minute {
		t.Errorf("defaults: version %d accept %v chunk %d retries %d backoff %s timeout %s",
			c.version, c.accept, c.chunkSize, c.maxRetries, c.backoff, c.hc.Timeout)
	}
	tr := c.own
	if tr == nil || tr.MaxIdleConnsPerHost < 16 || !tr.ForceAttemptHTTP2 || !tr.DisableCompression ||
		tr.TLSHandshakeTimeout != 30*time.Second || tr.DialContext == nil {
		t.Errorf("transport not tuned: %+v", tr)
	}
	c, err = NewClient(Config{BaseURL: "http://127.0.0.1:1", Credentials: clCreds(clSender), MaxRetries: -1, Timeout: -1, APIVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.maxRetries != 0 || c.hc.Timeout != 0 || c.own.ForceAttemptHTTP2 || c.accept[0] != AcceptV1 {
		t.Errorf("retries %d timeout %s h2 %v accept %v", c.maxRetries, c.hc.Timeout, c.own.ForceAttemptHTTP2, c.accept)
	}
}

// The client stores these header names without canonicalising them: they
// must already be canonical, or Go would send two spellings.
func TestClientHeaderConstantsCanonical(t *testing.T) {
	for _, h := range []string{hdrAuthorization, hdrAccept, hdrAcceptEncoding, hdrUserAgent, hdrContentType,
		hdrContentEncoding, hdrRetryAfter, hdrMexTo, hdrMexWorkflowID, hdrMexChunkRange} {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("%q is not canonical (%q)", h, c)
		}
	}
	if http.CanonicalHeaderKey(HeaderWorkflowID) != hdrMexWorkflowID || http.CanonicalHeaderKey(HeaderTo) != hdrMexTo ||
		http.CanonicalHeaderKey(HeaderChunkRange) != hdrMexChunkRange {
		t.Error("hot-path constants do not match wire.go's header names")
	}
}

func TestClientHandshake(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			c := f.client(srv, clSender, func(cfg *Config) { cfg.APIVersion = v; cfg.ClientVersion = "meshdoctor==9.9.9" })
			if err := c.Handshake(context.Background()); err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			reqs := f.requestsTo(http.MethodPost, "/messageexchange/"+clSender)
			if len(reqs) != 1 {
				t.Fatalf("%d handshakes, want 1", len(reqs))
			}
			h := reqs[0].Header
			want := map[string]string{
				HeaderClientVersion:  "meshdoctor==9.9.9",
				HeaderOSName:         runtime.GOOS,
				HeaderOSArchitecture: osArchitecture(),
				HeaderJavaVersion:    "N/A",
				"Accept":             []string{"", AcceptV1, AcceptV2}[v],
			}
			for name, val := range want {
				if got := h.Get(name); got != val {
					t.Errorf("%s = %q, want %q", name, got, val)
				}
			}
			if h.Get(HeaderOSVersion) == "" {
				t.Error("mex-OSVersion is empty")
			}
			if ua := h.Get("User-Agent"); !strings.HasPrefix(ua, "meshdoctor;") {
				t.Errorf("User-Agent = %q", ua)
			}
			if got := len(h.Values("Accept")); got != 1 || strings.Contains(h.Get("Accept"), ",") {
				t.Errorf("Accept must be a single value, got %q", h.Values("Accept"))
			}
		})
	}
}

func TestClientHandshakeDefaultClientVersion(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clSender, nil)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].Header.Get(HeaderClientVersion); !strings.HasPrefix(got, "meshdoctor==") || len(got) == len("meshdoctor==") {
		t.Errorf("mex-ClientVersion = %q", got)
	}
}

func TestClientPingSendsNoToken(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clSender, nil)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Path != "/messageexchange/_ping" || reqs[0].Header.Get("Authorization") != "" {
		t.Fatalf("ping request: %+v", reqs)
	}
}

// Every request carries a new, valid token: the fake refuses any reuse, so
// a client that cached a header would fail here.
func TestClientTokenFreshOnEveryRequest(t *testing.T) {
	f := newClFake(t)
	failures := 2
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/inbox") && failures > 0 {
			failures--
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	srv := f.start()
	sender := f.client(srv, clSender, nil)
	recipient := f.client(srv, clRecipient, nil)
	ctx := context.Background()
	id, err := sender.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("hello chunks"), -1)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return sender.Handshake(ctx) },
		func() error { return sender.Handshake(ctx) },
		func() error { _, err := recipient.ListInbox(ctx, ListOptions{}); return err }, // 503, 503, 200
		func() error { _, err := recipient.Download(ctx, id, new(strings.Builder)); return err },
		func() error { return recipient.Acknowledge(ctx, id) },
		func() error { _, err := sender.Track(ctx, id); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	f.mu.Lock()
	tokens, fails := append([]string(nil), f.tokens...), f.authFail
	f.mu.Unlock()
	if len(fails) != 0 {
		t.Fatalf("fake refused tokens: %v", fails)
	}
	if len(tokens) != 9 { // send, 2 handshakes, 3 list attempts, download, ack, track
		t.Fatalf("%d tokens seen, want 9", len(tokens))
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		p, err := ParseToken(tok)
		if err != nil {
			t.Fatalf("token %d: %v", len(seen), err)
		}
		if seen[p.Nonce] {
			t.Fatalf("nonce %s used twice", p.Nonce)
		}
		seen[p.Nonce] = true
	}
}

// The token timestamp comes from Config.Clock.
func TestClientTokenUsesClock(t *testing.T) {
	f := newClFake(t)
	at := time.Now().Add(-90 * time.Minute).UTC() // still inside MESH's ±2 h window
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.Clock = func() time.Time { return at } })
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, err := ParseToken(f.requests()[0].Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Timestamp != at.Format(TimestampLayout) {
		t.Errorf("timestamp %s, want %s", tok.Timestamp, at.Format(TimestampLayout))
	}
}

// clCountingTransport counts the requests a Config.Transport override sees.
type clCountingTransport struct {
	next http.RoundTripper
	n    int
}

func (c *clCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.next.RoundTrip(r)
}

func TestClientTransportOverride(t *testing.T) {
	f := newClFake(t)
	srv := f.start()
	rt := &clCountingTransport{next: srv.Client().Transport}
	c := f.client(srv, clSender, func(cfg *Config) {
		cfg.Transport = rt
		cfg.Proxy = func(*http.Request) (*url.URL, error) { t.Error("Proxy used despite Transport"); return nil, nil }
	})
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rt.n != 1 || c.own != nil {
		t.Errorf("override saw %d requests; own transport %v", rt.n, c.own)
	}
}
