package mesh

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/internal/osinfo"
)

// Client defaults. The chunk size and the timeout are those of NHS's own
// clients (mesh-api.md §5.1, §9.2).
const (
	DefaultChunkSize    int64 = 20 << 20
	DefaultMaxRetries         = 3
	DefaultRetryBackoff       = 500 * time.Millisecond
	DefaultTimeout            = 10 * time.Minute
)

const (
	// maxBackoff caps the exponential backoff between retries.
	maxBackoff = 30 * time.Second
	// maxRetryAfter is the longest Retry-After the client waits for; a server
	// that asks for more gets its error returned instead of a stalled call.
	maxRetryAfter = 5 * time.Minute
	// maxJSONBody bounds a JSON answer (a 5000-id inbox page is ~150 KB).
	maxJSONBody = 16 << 20
	// maxDrain is how much of an unread body is discarded so that the
	// connection can be reused; beyond that it is cheaper to close it.
	maxDrain = 256 << 10
	// copyBufferSize is the buffer for streaming downloads and compression.
	copyBufferSize = 64 << 10
)

// Canonical forms of the header names the client sets on hot paths, so that
// headers can be stored without canonicalising them on every request.
// client_test.go checks each against http.CanonicalHeaderKey.
const (
	hdrAuthorization   = "Authorization"
	hdrAccept          = "Accept"
	hdrAcceptEncoding  = "Accept-Encoding"
	hdrUserAgent       = "User-Agent"
	hdrContentType     = "Content-Type"
	hdrContentEncoding = "Content-Encoding"
	hdrRetryAfter      = "Retry-After"
	hdrMexTo           = "Mex-To"
	hdrMexWorkflowID   = "Mex-Workflowid"
	hdrMexChunkRange   = "Mex-Chunk-Range"
)

const octetStream = "application/octet-stream"

// Config configures a Client. Only BaseURL and Credentials.Mailbox are
// required; every other field has a default.
type Config struct {
	// BaseURL is the scheme and host of MESH, e.g.
	// "https://msg.intspineservices.nhs.uk" or "https://127.0.0.1:8700". A
	// trailing "/messageexchange" is tolerated; any other path is refused.
	// Plain http is allowed only for loopback hosts.
	BaseURL string
	// Credentials sign every request (mailbox, password, shared key).
	Credentials Credentials
	// TLS holds the client certificate and the RootCAs. nil means the system
	// defaults, and then no client certificate is presented. The client
	// keeps a clone.
	TLS *tls.Config
	// APIVersion is 2 (the default) or 1. It selects the Accept header and
	// the body shapes the client decodes.
	APIVersion int
	// ChunkSize is the largest chunk Send uploads, in bytes (default 20 MiB,
	// as NHS's AWS client). Message.ChunkSize overrides it per message.
	ChunkSize int64
	// MaxRetries is how many times a retryable failure is retried (default
	// 3; a negative value disables retries).
	MaxRetries int
	// RetryBackoff is the first wait between retries; it doubles on each
	// retry, up to 30 s (default 500 ms).
	RetryBackoff time.Duration
	// Timeout bounds each HTTP exchange, reading the body included (default
	// 10 minutes; negative means none). Every call also honours its context.
	Timeout time.Duration
	// Proxy chooses the proxy for a request (default
	// http.ProxyFromEnvironment: HTTPS_PROXY, NO_PROXY). To bypass any
	// proxy, return nil, nil. Through a proxy the client certificate is
	// still presented: TLS runs end to end inside the CONNECT tunnel.
	Proxy func(*http.Request) (*url.URL, error)
	// ProxySettings choose the route when Proxy is nil: nil reads the
	// environment's proxy variables (HTTPS_PROXY, NO_PROXY) with this
	// package's parser, which refuses in words a value that does not parse
	// and answers NTLM as well as Basic proxy authentication.
	ProxySettings *ProxySettings
	// Clock gives the token timestamps (default time.Now).
	Clock func() time.Time
	// ClientVersion is sent as mex-ClientVersion on the handshake (default
	// "meshdoctor==<version>", the version the User-Agent names).
	ClientVersion string
	// Transport overrides the HTTP transport (tests, benchmarks). When set,
	// TLS and Proxy are ignored.
	Transport http.RoundTripper
}

// Client speaks the MESH API for one mailbox. It is safe for concurrent use
// and reuses connections; create one per mailbox and keep it.
type Client struct {
	scheme, host string
	creds        Credentials
	version      int
	chunkSize    int64
	maxRetries   int
	backoff      time.Duration
	clock        func() time.Time
	hc           *http.Client
	// own is the transport the client built, nil when Config.Transport was
	// given.
	own *http.Transport
	// mailboxPath is "/messageexchange/{mailbox}", escaped.
	mailboxPath string
	// Header values shared by every request; the transport only reads them.
	accept, userAgent, gzipOnly []string
	// handshake holds the mex-* headers of a handshake.
	handshake http.Header

	bufs     sync.Pool // *bytes.Buffer for JSON and error bodies
	copyBufs sync.Pool // *[]byte of copyBufferSize
	gzReader sync.Pool // *gzip.Reader
	gzWriter sync.Pool // *gzip.Writer
}

// NewClient checks cfg and builds a Client with its own connection pool.
func NewClient(cfg Config) (*Client, error) {
	scheme, host, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials.Mailbox == "" {
		return nil, errors.New("mesh: Config.Credentials.Mailbox is empty")
	}
	c := &Client{
		scheme:      scheme,
		host:        host,
		creds:       cfg.Credentials,
		version:     cfg.APIVersion,
		chunkSize:   cfg.ChunkSize,
		maxRetries:  cfg.MaxRetries,
		backoff:     cfg.RetryBackoff,
		clock:       cfg.Clock,
		mailboxPath: PathPrefix + "/" + url.PathEscape(cfg.Credentials.Mailbox),
		gzipOnly:    []string{"gzip"},
	}
	switch c.version {
	case 0, 2:
		c.version = 2
		c.accept = []string{AcceptV2}
	case 1:
		c.accept = []string{AcceptV1}
	default:
		return nil, fmt.Errorf("mesh: Config.APIVersion %d: want 1 or 2", cfg.APIVersion)
	}
	switch {
	case c.chunkSize == 0:
		c.chunkSize = DefaultChunkSize
	case c.chunkSize < 0:
		return nil, fmt.Errorf("mesh: Config.ChunkSize %d: want at least 1 byte", c.chunkSize)
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	switch {
	case c.backoff == 0:
		c.backoff = DefaultRetryBackoff
	case c.backoff < 0:
		return nil, fmt.Errorf("mesh: Config.RetryBackoff %s is negative", c.backoff)
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}

	rt := cfg.Transport
	if rt == nil {
		if c.own, err = newTransport(cfg, scheme, host); err != nil {
			return nil, err
		}
		rt = c.own
	}
	c.hc = &http.Client{
		Transport: rt,
		Timeout:   timeout,
		// MESH does not redirect; a 3xx is reported, and the Authorization
		// header is never replayed to another place.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	clientVersion := cfg.ClientVersion
	if clientVersion == "" {
		clientVersion = buildinfo.ClientVersion()
	}
	c.userAgent = []string{UserAgent()}
	c.handshake = HandshakeHeaders(clientVersion)
	return c, nil
}

// HandshakeHeaders are the client headers MESH asks for on the handshake
// (mesh-api.md §3.2), naming this build and machine. Everything in
// meshdoctor that sends a handshake takes them from here, so that a MESH log
// line reads the same whichever part made the request.
func HandshakeHeaders(clientVersion string) http.Header {
	return http.Header{
		http.CanonicalHeaderKey(HeaderClientVersion):  {clientVersion},
		http.CanonicalHeaderKey(HeaderOSName):         {runtime.GOOS},
		http.CanonicalHeaderKey(HeaderOSVersion):      {osinfo.Version()},
		http.CanonicalHeaderKey(HeaderOSArchitecture): {osArchitecture()},
		http.CanonicalHeaderKey(HeaderJavaVersion):    {"N/A"},
	}
}

// parseBaseURL returns the scheme and host of a MESH base URL.
func parseBaseURL(raw string) (scheme, host string, err error) {
	if strings.TrimSpace(raw) == "" {
		return "", "", errors.New("mesh: Config.BaseURL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse quotes the input; a URL carries no secret once userinfo
		// is refused below, but the parse error may, so keep it generic.
		return "", "", fmt.Errorf("mesh: Config.BaseURL is not a URL: %v", errors.Unwrap(err))
	}
	if u.User != nil {
		return "", "", errors.New("mesh: Config.BaseURL must not carry a user name or password")
	}
	scheme = strings.ToLower(u.Scheme)
	if u.Host == "" || (scheme != "https" && scheme != "http") {
		return "", "", fmt.Errorf("mesh: Config.BaseURL %q: want https://host[:port]", raw)
	}
	if scheme == "http" && !isLoopback(u.Hostname()) {
		return "", "", fmt.Errorf("mesh: Config.BaseURL %q: plain http is allowed only to a loopback host; MESH needs https", raw)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" && p != PathPrefix {
		return "", "", fmt.Errorf("mesh: Config.BaseURL %q: unexpected path %q (give the host only, optionally followed by %s)", raw, u.Path, PathPrefix)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("mesh: Config.BaseURL %q: must not have a query or fragment", raw)
	}
	return scheme, u.Host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newTransport builds the client's own transport: DefaultTransport's
// settings, more idle connections per host, and no transparent
// decompression (Download inflates gzip itself, so callers see exactly what
// MESH sent).
func newTransport(cfg Config, scheme, host string) (*http.Transport, error) {
	useTLS := scheme == "https"
	dial := (&net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext
	if cfg.Proxy == nil {
		settings := cfg.ProxySettings
		if settings == nil {
			settings = &ProxySettings{}
		}
		tunnel, err := settings.Dialer(scheme + "://" + host)
		if err != nil {
			return nil, fmt.Errorf("mesh: proxy: %w", err)
		}
		if tunnel != nil {
			dial = tunnel
		}
	}
	t := &http.Transport{
		Proxy:               cfg.Proxy,
		DialContext:         dial,
		ForceAttemptHTTP2:   useTLS,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 32,
		// Below the idle timeouts of the proxies in front of MESH (nginx
		// 75 s, cloud load balancers 60 s), so that the client drops a
		// connection before the server does: a request written onto a
		// connection the server is closing fails, and a first POST is
		// then not retried.
		IdleConnTimeout:       45 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       copyBufferSize,
		ReadBufferSize:        copyBufferSize,
	}
	if useTLS {
		// Larger DATA frames: Go's HTTP/2 download path is frame-bound, and
		// 1 MiB frames raise bulk download throughput by about a third.
		t.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 1 << 20}
	}
	if cfg.TLS != nil {
		t.TLSClientConfig = PresentAlways(cfg.TLS.Clone())
	}
	return t, nil
}

// PresentAlways makes the client send its certificate even when it is not
// issued by one of the CAs the server says it accepts. Go's default is to
// send none then, so the server answers "certificate required"; NHS's Java
// and Python clients send it anyway and MESH answers "unknown CA", the
// symptom NHS's guidance describes. meshdoctor behaves like those clients so
// that what it sees is what they see.
// Code that makes its own requests to MESH (raw, crafted ones) uses it too.
func PresentAlways(cfg *tls.Config) *tls.Config {
	if cfg.GetClientCertificate != nil || len(cfg.Certificates) == 0 {
		return cfg
	}
	cert := cfg.Certificates[0]
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// CloseIdleConnections closes the connections the client keeps for reuse.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// APIVersion is the MESH API version the client speaks (1 or 2).
func (c *Client) APIVersion() int { return c.version }

// UserAgent is the User-Agent meshdoctor sends to MESH, in the form NHS's
// clients use (application;version;Java version;architecture;OS;OS
// version), with the version mex-ClientVersion names by default.
func UserAgent() string {
	return "meshdoctor;" + buildinfo.Version() + ";N/A;" + osArchitecture() + ";" + runtime.GOOS + ";" + osinfo.Version()
}

// osArchitecture names the machine as uname does (x86_64 rather than amd64).
func osArchitecture() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	}
	return runtime.GOARCH
}

// request is one MESH call; do turns it into one or more HTTP attempts.
type request struct {
	method string
	path   string // escaped path, starting with /messageexchange
	query  string // encoded query, may be empty
	// header holds the call's own headers; do adds Authorization, Accept
	// and User-Agent. It may be nil.
	header http.Header
	// body makes a fresh body for each attempt; nil means none.
	body   func() io.ReadCloser
	length int64
	noAuth bool
	// retry allows retries. It is false for the first POST of a message:
	// MESH does not de-duplicate, so a retry could send it twice.
	retry bool
	// token is the Authorization value of the latest attempt, kept only so
	// that it can be scrubbed from anything the server echoes back.
	token string
}

// do runs r with retries and returns the response when its status is 2xx;
// the caller must close its body. Any other status becomes an
// *APIError, any transport failure an error naming the method and path.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	attempts := 1
	if r.retry {
		attempts += c.maxRetries
	}
	h := r.header
	if h == nil {
		h = make(http.Header, 3)
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			// The transport may still hold the previous request's header.
			h = h.Clone()
		}
		resp, err := c.roundTrip(ctx, r, h)
		var retryAfter time.Duration
		if err == nil {
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return resp, nil
			}
			retryAfter = parseRetryAfter(headerValue(resp.Header, hdrRetryAfter), serverNow(resp.Header))
			err = c.apiError(r, resp)
		} else {
			err = c.transportError(r, err)
		}
		if attempt >= attempts || ctx.Err() != nil || !retryable(err) || retryAfter > maxRetryAfter {
			if attempt > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return nil, err
		}
		if werr := sleep(ctx, max(c.backoffFor(attempt), retryAfter)); werr != nil {
			return nil, fmt.Errorf("%w (%w while waiting to retry after attempt %d)", err, werr, attempt)
		}
	}
}

// roundTrip makes one attempt with a fresh token.
func (c *Client) roundTrip(ctx context.Context, r *request, h http.Header) (*http.Response, error) {
	if !r.noAuth {
		// A token is accepted once: every attempt signs anew.
		r.token = NewToken(c.creds, c.clock())
		h[hdrAuthorization] = []string{r.token}
	}
	h[hdrAccept] = c.accept
	h[hdrUserAgent] = c.userAgent
	u := &url.URL{Scheme: c.scheme, Host: c.host, Path: r.path, RawQuery: r.query}
	if p, err := url.PathUnescape(r.path); err == nil && p != r.path {
		u.Path, u.RawPath = p, r.path
	}
	req := &http.Request{
		Method:     r.method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       c.host,
	}
	if r.body != nil && r.length != 0 {
		req.Body = r.body()
		req.ContentLength = r.length
		req.GetBody = func() (io.ReadCloser, error) { return r.body(), nil }
	}
	return c.hc.Do(req.WithContext(ctx))
}

// transportError strips the *url.Error (it repeats the whole URL) and names
// the call instead. Nothing secret reaches the message: the token lives in
// a header, never in the URL.
func (c *Client) transportError(r *request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var te *TunnelError
	if errors.As(err, &te) {
		// Say what the proxy did, not Go's "proxyconnect tcp:"; the chain
		// (which the retry reads) is kept.
		err = tunnelFailure{err, te}
	}
	return fmt.Errorf("%s %s: %w", r.method, r.path, err)
}

// tunnelFailure is a dial error through a proxy, worded as the proxy's.
type tunnelFailure struct {
	err error
	te  *TunnelError
}

func (e tunnelFailure) Error() string { return e.te.Error() }
func (e tunnelFailure) Unwrap() error { return e.err }

// apiError reads (a bounded part of) an unexpected answer and closes it.
// Secrets the server may echo (a proxy page listing the request headers)
// are scrubbed before anything of the body reaches the error.
func (c *Client) apiError(r *request, resp *http.Response) error {
	buf := c.getBuf()
	defer c.putBuf(buf)
	_, _ = buf.ReadFrom(io.LimitReader(resp.Body, maxErrorBody))
	drainClose(resp.Body)
	return c.decodeError(r, resp.StatusCode, buf.Bytes())
}

// decodeError is DecodeError with secrets scrubbed from the body before
// it is read, and from the decoded fields after (JSON escapes such as
// \u002d can hide a secret from the first pass).
func (c *Client) decodeError(r *request, status int, body []byte) *APIError {
	e := DecodeError(r.method, r.path, status, c.scrub(r, body))
	for _, f := range [...]*string{&e.Event, &e.Code, &e.Description, &e.MessageID, &e.Body} {
		if *f != "" {
			*f = string(c.scrub(r, []byte(*f)))
		}
	}
	return e
}

// redacted replaces a secret in anything the server sent back.
const redacted = "[REDACTED]"

// minSecretLen is the shortest password or shared key that is scrubbed
// from server text; a shorter one would mangle ordinary words.
const minSecretLen = 4

// scrub removes from server-sent text the password, the shared key (as
// they are, JSON-escaped and HTML-escaped) and any NHSMESH Authorization
// value, including the one of this request without its scheme.
func (c *Client) scrub(r *request, b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	s := string(b)
	if r != nil && r.token != "" {
		s = strings.ReplaceAll(s, strings.TrimPrefix(r.token, TokenScheme+" "), redacted)
	}
	s = scrubTokens(s)
	for _, secret := range [...]string{c.creds.Password, c.creds.SharedKey} {
		if len(secret) < minSecretLen {
			continue
		}
		s = strings.ReplaceAll(s, secret, redacted)
		if q, err := json.Marshal(secret); err == nil {
			if e := string(q[1 : len(q)-1]); e != secret {
				s = strings.ReplaceAll(s, e, redacted)
			}
		}
		if e := html.EscapeString(secret); e != secret {
			s = strings.ReplaceAll(s, e, redacted)
		}
	}
	return []byte(s)
}

// scrubTokens replaces every "NHSMESH <value>" (any case) with a marker.
func scrubTokens(s string) string {
	upper := asciiUpper(s)
	if !strings.Contains(upper, TokenScheme) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(upper, TokenScheme)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(redacted)
		j := i + len(TokenScheme)
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		for j < len(s) && !isTokenEnd(s[j]) {
			j++
		}
		s, upper = s[j:], upper[j:]
	}
}

// asciiUpper upper-cases ASCII letters only, so that byte offsets into the
// result are offsets into s.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

func isTokenEnd(b byte) bool {
	switch b {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', ',', ';', '&':
		return true
	}
	return false
}

// excerpt is the start of a server's answer for an error message, one
// line, scrubbed of secrets.
func (c *Client) excerpt(r *request, body []byte) string {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	return oneLine(c.scrub(r, body), 200)
}

// headerValue is h.Get(name), or failing that the first value of a name
// that matches in any case. Go's transports canonicalise the names they
// read (HTTP/2 sends them in lower case), but a Config.Transport need not.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// serverNow is the time of the server's Date header, else the local time.
// A Retry-After date is read against it, so that a skewed local clock
// (one of the faults meshdoctor diagnoses) does not distort the wait.
func serverNow(h http.Header) time.Time {
	if t, err := http.ParseTime(headerValue(h, "Date")); err == nil {
		return t
	}
	return time.Now()
}

// readJSON decodes a JSON answer into v and closes the body. An empty body
// leaves v untouched.
func (c *Client) readJSON(r *request, resp *http.Response, v any) error {
	buf, err := c.readBody(r, resp)
	if err != nil {
		return err
	}
	defer c.putBuf(buf)
	return c.decodeJSON(r, resp, buf.Bytes(), v)
}

func (c *Client) decodeJSON(r *request, resp *http.Response, body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: %d answer is not the expected JSON: %v (body: %s)", r.method, r.path, resp.StatusCode, c.scrubErr(r, err), c.excerpt(r, body))
	}
	return nil
}

// scrubErr is err's text scrubbed of secrets (a JSON syntax error can
// quote the body).
func (c *Client) scrubErr(r *request, err error) string {
	return string(c.scrub(r, []byte(err.Error())))
}

// readBody reads a whole (bounded) answer into a pooled buffer, which the
// caller returns with putBuf, and closes the body.
func (c *Client) readBody(r *request, resp *http.Response) (*bytes.Buffer, error) {
	buf := c.getBuf()
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxJSONBody+1))
	drainClose(resp.Body)
	if err == nil && buf.Len() > maxJSONBody {
		err = fmt.Errorf("answer larger than %d bytes", maxJSONBody)
	}
	if err != nil {
		c.putBuf(buf)
		return nil, fmt.Errorf("%s %s: reading the answer: %w", r.method, r.path, err)
	}
	return buf, nil
}

func (c *Client) getBuf() *bytes.Buffer {
	if b, ok := c.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (c *Client) putBuf(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // do not keep a large inbox page alive
	}
	b.Reset()
	c.bufs.Put(b)
}

func (c *Client) getCopyBuf() *[]byte {
	if b, ok := c.copyBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, copyBufferSize)
	return &b
}

// drainClose discards what is left of a body, up to a limit, so that the
// connection can carry the next request, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	_ = body.Close()
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
