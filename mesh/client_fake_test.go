package mesh

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test credentials. The secrets are distinctive so that tests can prove
// they never reach an error message.
const (
	clSender    = "X26ABC1"
	clRecipient = "X26ABC2"
	clPassword  = "pw-Sup3rSecret-4471"
	clSharedKey = "key-Sh4redSecret-9902"
	clWorkflow  = "TEST_WORKFLOW"
)

func clCreds(mailbox string) Credentials {
	return Credentials{Mailbox: mailbox, Password: clPassword, SharedKey: clSharedKey}
}

// clFake is a small MESH server for the client tests: both API versions
// keyed on Accept, real token checks (HMAC, single use), chunked upload and
// download, gzip, pagination, tracking, lookups. Hook lets a test answer
// (or fail) a request before the fake does.
type clFake struct {
	t *testing.T

	// Settings; set before the first request.
	gzipOnTheFly bool // gzip uncompressed downloads for v2 clients that accept it
	hook         func(w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	seen     map[string]bool // tokens used
	tokens   []string        // every Authorization header, in order
	authFail []string        // why tokens were refused
	log      []clRequest
	msgs     map[string]*clMsg
	order    []string // message ids in arrival order
	nextID   int
}

// clRequest is a request as the fake saw it.
type clRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

type clMsg struct {
	id, from, to string
	header       http.Header // first chunk's request headers
	chunks       [][]byte    // as uploaded (gzip when encoding is gzip)
	total        int
	encoding     string
	acked        bool
}

func newClFake(t *testing.T) *clFake {
	return &clFake{t: t, seen: map[string]bool{}, msgs: map[string]*clMsg{}}
}

// start serves the fake over plain HTTP on loopback.
func (f *clFake) start() *httptest.Server {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv
}

// client makes a client of mailbox against srv with tiny backoffs.
func (f *clFake) client(srv *httptest.Server, mailbox string, mod func(*Config)) *Client {
	f.t.Helper()
	cfg := Config{BaseURL: srv.URL, Credentials: clCreds(mailbox), RetryBackoff: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		f.t.Fatalf("NewClient: %v", err)
	}
	f.t.Cleanup(c.CloseIdleConnections)
	return c
}

func (f *clFake) requests() []clRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]clRequest(nil), f.log...)
}

// requestsTo returns the logged requests with the given method whose path
// ends with suffix.
func (f *clFake) requestsTo(method, suffix string) []clRequest {
	var out []clRequest
	for _, r := range f.requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *clFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.log = append(f.log, clRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	if a := r.Header.Get("Authorization"); a != "" {
		f.tokens = append(f.tokens, a)
	}
	f.mu.Unlock()
	if f.hook != nil && f.hook(w, r) {
		return
	}
	v := 1
	switch accept := r.Header.Get("Accept"); {
	case strings.Contains(accept, ","):
		// The sandbox splits on ";" only: a list is a bad format.
		f.fail(w, 1, http.StatusBadRequest, "", "", "Accept header api format incorrect")
		return
	case accept == AcceptV2:
		v = 2
	case accept == "", accept == AcceptV1, accept == "application/json":
	default:
		f.fail(w, 1, http.StatusBadRequest, "", "", "Accept header api format incorrect")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case rest == "_ping":
		clWriteJSON(w, http.StatusOK, map[string]string{"status": "running"})
		return
	case parts[0] == "endpointlookup" && len(parts) == 3:
		f.lookup(w, v, parts[1], parts[2])
		return
	case parts[0] == "workflowsearch" && len(parts) == 2:
		f.lookup(w, 2, "", parts[1])
		return
	}
	mailbox := strings.ToUpper(parts[0])
	if !f.authorised(w, r, v, mailbox) {
		return
	}
	switch {
	case len(parts) == 1:
		f.handshake(w, r, v, mailbox)
	case len(parts) == 2 && parts[1] == "outbox" && r.Method == http.MethodPost:
		f.send(w, r, v, mailbox, body)
	case len(parts) == 4 && parts[1] == "outbox" && r.Method == http.MethodPost:
		f.chunk(w, r, v, mailbox, parts[2], parts[3], body)
	case len(parts) == 3 && parts[1] == "outbox" && parts[2] == "tracking":
		f.track(w, r, v, mailbox)
	case len(parts) == 2 && parts[1] == "inbox":
		f.list(w, r, v, mailbox)
	case len(parts) == 2 && parts[1] == "count":
		f.count(w, v, mailbox)
	case len(parts) == 3 && parts[1] == "inbox":
		f.download(w, r, v, mailbox, parts[2], "1")
	case len(parts) == 4 && parts[1] == "inbox":
		f.download(w, r, v, mailbox, parts[2], parts[3])
	case len(parts) == 5 && parts[1] == "inbox" && parts[3] == "status" && parts[4] == "acknowledged" && r.Method == http.MethodPut:
		f.ack(w, v, mailbox, parts[2])
	default:
		http.NotFound(w, r)
	}
}

// authorised checks the NHSMESH token as real MESH does: structure, HMAC,
// mailbox, and single use.
func (f *clFake) authorised(w http.ResponseWriter, r *http.Request, v int, mailbox string) bool {
	refuse := func(why string) bool {
		f.mu.Lock()
		f.authFail = append(f.authFail, why)
		f.mu.Unlock()
		f.fail(w, v, http.StatusForbidden, "", "", "Invalid Authentication Token")
		return false
	}
	header := r.Header.Get("Authorization")
	tok, err := ParseToken(header)
	if err != nil {
		return refuse(err.Error())
	}
	if tok.Mailbox != mailbox {
		return refuse("mailbox does not match token")
	}
	if err := tok.Verify(clPassword, clSharedKey, time.Now(), TokenWindow); err != nil {
		return refuse(err.Error())
	}
	key := tok.Mailbox + ":" + tok.Nonce + ":" + tok.NonceCount
	f.mu.Lock()
	reused := f.seen[key]
	f.seen[key] = true
	f.mu.Unlock()
	if reused {
		return refuse("token reused")
	}
	return true
}

// fail writes a MESH error body of the version asked for.
func (f *clFake) fail(w http.ResponseWriter, v, status int, event, code, desc string) {
	if v == 2 {
		w.Header().Set("Content-Type", AcceptV2)
		clWriteJSON(w, status, ErrorV2{Detail: []ErrorDetailV2{{Event: event, Code: code, Msg: desc}}})
		return
	}
	clWriteJSON(w, status, ErrorV1{ErrorEvent: event, ErrorCode: code, ErrorDescription: desc})
}

func clWriteJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *clFake) handshake(w http.ResponseWriter, r *http.Request, v int, mailbox string) {
	for _, h := range []string{HeaderClientVersion, HeaderOSName, HeaderOSVersion} {
		if r.Header.Get(h) == "" {
			clWriteJSON(w, http.StatusBadRequest, map[string]any{"detail": []map[string]any{{"loc": []string{"header", h}, "msg": "field required", "type": "value_error.missing"}}})
			return
		}
	}
	if v == 1 {
		clWriteJSON(w, http.StatusOK, HandshakeResponseV1{MailboxID: mailbox})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func clKnownMailbox(m string) bool { return m == clSender || m == clRecipient || m == "X26ABC3" }

func (f *clFake) send(w http.ResponseWriter, r *http.Request, v int, mailbox string, body []byte) {
	to := strings.ToUpper(r.Header.Get(HeaderTo))
	if to == "" || r.Header.Get(HeaderWorkflowID) == "" {
		f.fail(w, v, http.StatusBadRequest, "SEND", "08", "TO_DTS missing")
		return
	}
	enc := r.Header.Get("Content-Encoding")
	if enc != "" && enc != "gzip" {
		f.fail(w, v, http.StatusUnprocessableEntity, "SEND", "UnsupportedContentEncoding", "Unsupported content encoding")
		return
	}
	cr, err := ParseChunkRange(r.Header.Get(HeaderChunkRange))
	if err != nil || cr.Index != 1 {
		f.fail(w, v, http.StatusExpectationFailed, "SEND", "InvalidHeaderChunks", "Invalid chunk values sent in mex-Chunk-Range header")
		return
	}
	if !clKnownMailbox(to) {
		f.fail(w, v, http.StatusExpectationFailed, "SEND", "12", "Unregistered to address")
		return
	}
	if len(body) == 0 {
		f.fail(w, v, http.StatusExpectationFailed, "COLLECT", "02", "Data file is missing or inaccessible.")
		return
	}
	f.mu.Lock()
	f.nextID++
	id := fmt.Sprintf("20240101120000%06d_%06X", f.nextID, f.nextID)
	f.msgs[id] = &clMsg{id: id, from: mailbox, to: to, header: r.Header.Clone(), chunks: [][]byte{body}, total: cr.Total, encoding: enc}
	f.order = append(f.order, id)
	f.mu.Unlock()
	if v == 1 {
		clWriteJSON(w, http.StatusAccepted, SendResponseV1{MessageID: id})
		return
	}
	clWriteJSON(w, http.StatusAccepted, SendResponseV2{MessageID: id})
}

func (f *clFake) chunk(w http.ResponseWriter, r *http.Request, v int, mailbox, id, num string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.msgs[id]
	if m == nil || m.from != mailbox {
		f.fail(w, v, http.StatusNotFound, "SEND", "20", "Message does not exist")
		return
	}
	cr, err := ParseChunkRange(r.Header.Get(HeaderChunkRange))
	if err != nil || strconv.Itoa(cr.Index) != num || cr.Total != m.total {
		f.fail(w, v, http.StatusExpectationFailed, "SEND", "InvalidHeaderChunks", "Invalid chunk values sent in mex-Chunk-Range header")
		return
	}
	if len(m.chunks) == m.total {
		w.WriteHeader(http.StatusLocked)
		return
	}
	if cr.Index != len(m.chunks)+1 {
		f.fail(w, v, http.StatusExpectationFailed, "SEND", "InvalidHeaderChunks", "chunk out of order")
		return
	}
	if r.Header.Get("Content-Encoding") != m.encoding {
		f.fail(w, v, http.StatusExpectationFailed, "SEND", "", "cannot change content encoding")
		return
	}
	m.chunks = append(m.chunks, body)
	if v == 1 {
		clWriteJSON(w, http.StatusAccepted, SendResponseV1{MessageID: id, BlockID: cr.Index})
		return
	}
	clWriteJSON(w, http.StatusAccepted, nil)
}

// status is the message's tracking status.
func (m *clMsg) status() string {
	switch {
	case m.acked:
		return "acknowledged"
	case len(m.chunks) < m.total:
		return "uploading"
	}
	return "accepted"
}

func (f *clFake) track(w http.ResponseWriter, r *http.Request, v int, mailbox string) {
	id := r.URL.Query().Get("messageID")
	f.mu.Lock()
	m := f.msgs[id]
	f.mu.Unlock()
	if m == nil || m.from != mailbox {
		f.fail(w, v, http.StatusNotFound, "TRACK", "20", "Message does not exist")
		return
	}
	st := m.status()
	if v == 1 {
		clWriteJSON(w, http.StatusOK, TrackingV1{
			MessageID: id, LocalID: m.header.Get(HeaderLocalID), WorkflowID: m.header.Get(HeaderWorkflowID),
			Recipient: m.to, Sender: m.from, Status: strings.ToUpper(st[:1]) + st[1:], StatusSuccess: "SUCCESS",
			StatusTimestamp: "20240101120102", UploadTimestamp: "20240101120000", ExpiryTime: "20240106120000",
			MessageType: "Data", ChunkCount: m.total, FileName: m.header.Get(HeaderFileName), Version: "1.0",
		})
		return
	}
	clWriteJSON(w, http.StatusOK, TrackingV2{
		MessageID: id, LocalID: m.header.Get(HeaderLocalID), WorkflowID: m.header.Get(HeaderWorkflowID),
		Recipient: m.to, Status: st, StatusSuccess: new(true), StatusTimestamp: "2024-01-01T12:01:02.5Z",
		UploadTimestamp: "2024-01-01T12:00:00", ExpiryTime: "2024-01-06T12:00:00Z", Filename: m.header.Get(HeaderFileName),
	})
}

// inboxIDs lists the complete, unacknowledged messages of mailbox.
func (f *clFake) inboxIDs(mailbox string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, id := range f.order {
		if m := f.msgs[id]; m.to == mailbox && m.status() == "accepted" {
			ids = append(ids, id)
		}
	}
	return ids
}

func (f *clFake) list(w http.ResponseWriter, r *http.Request, v int, mailbox string) {
	q := r.URL.Query()
	max := 500
	if s := q.Get("max_results"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 || n > 5000 {
			f.fail(w, v, http.StatusBadRequest, "", "", "max_results out of range")
			return
		}
		max = n
	}
	ids := f.inboxIDs(mailbox)
	if cf := q.Get("continue_from"); cf != "" {
		last := cf
		if v == 2 {
			b, err := base64.RawURLEncoding.DecodeString(cf)
			if err != nil {
				f.fail(w, v, http.StatusBadRequest, "", "", "bad continue_from")
				return
			}
			last = string(b)
		}
		for i, id := range ids {
			if id == last {
				ids = ids[i+1:]
				break
			}
		}
	}
	more := len(ids) > max
	ids = ids[:min(max, len(ids))]
	if v == 1 {
		clWriteJSON(w, http.StatusOK, InboxV1{Messages: ids})
		return
	}
	page := InboxV2{Messages: ids, ApproxInboxCount: len(f.inboxIDs(mailbox))}
	page.Links.Self = r.URL.RequestURI()
	if more {
		// Relative, as MESH sends it; the token is opaque and ≥ 24 chars.
		next := url.Values{"max_results": {strconv.Itoa(max)}, "continue_from": {base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))}}
		page.Links.Next = PathPrefix + "/" + mailbox + "/inbox?" + next.Encode()
	}
	clWriteJSON(w, http.StatusOK, page)
}

func (f *clFake) count(w http.ResponseWriter, v int, mailbox string) {
	n := len(f.inboxIDs(mailbox))
	if v == 1 {
		clWriteJSON(w, http.StatusOK, CountV1{Count: n, InternalID: "20200603094542820500_AEA7BA_1573484974", AllResultsIncluded: true})
		return
	}
	clWriteJSON(w, http.StatusOK, CountV2{Count: n})
}

func (f *clFake) download(w http.ResponseWriter, r *http.Request, v int, mailbox, id, num string) {
	k, err := strconv.Atoi(num)
	f.mu.Lock()
	m := f.msgs[id]
	f.mu.Unlock()
	if m == nil || m.to != mailbox || err != nil || k < 1 || k > m.total {
		f.fail(w, v, http.StatusNotFound, "RECEIVE", "20", "Message does not exist")
		return
	}
	if m.status() == "uploading" {
		f.fail(w, v, http.StatusGone, "SEND", "", "Message no longer available for download")
		return
	}
	h := w.Header()
	for _, name := range []string{HeaderWorkflowID, HeaderSubject, HeaderLocalID, HeaderFileName, HeaderChecksum, HeaderContentType, HeaderPartnerID, HeaderContentEncrypted, HeaderContentCompressed} {
		if val := m.header.Get(name); val != "" {
			h.Set(name, val)
		}
	}
	h.Set(HeaderMessageID, id)
	h.Set(HeaderFrom, m.from)
	h.Set(HeaderTo, m.to)
	h.Set(HeaderChunkRange, fmt.Sprintf("%d:%d", k, m.total))
	h.Set(HeaderTotalChunks, strconv.Itoa(m.total))
	h.Set(HeaderMessageType, MessageTypeData)
	h.Set(HeaderStatusCode, "00")
	h.Set(HeaderStatusEvent, "TRANSFER")
	h.Set(HeaderStatusSuccess, "SUCCESS")
	h.Set(HeaderStatusDescription, "Transferred to recipient mailbox")
	h.Set(HeaderStatusTimestamp, "20240101120102")
	h.Set("Content-Type", "application/octet-stream")
	data := m.chunks[k-1]
	acceptsGzip := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
	switch {
	case m.encoding == "gzip" && acceptsGzip:
		h.Set("Content-Encoding", "gzip")
	case m.encoding == "gzip":
		data = clGunzip(f.t, data)
	case f.gzipOnTheFly && v == 2 && acceptsGzip:
		data = clGzip(data)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	status := http.StatusOK
	if k < m.total {
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func (f *clFake) ack(w http.ResponseWriter, v int, mailbox, id string) {
	f.mu.Lock()
	m := f.msgs[id]
	if m != nil && m.to == mailbox {
		m.acked = true
	}
	f.mu.Unlock()
	if m == nil || m.to != mailbox {
		f.fail(w, v, http.StatusNotFound, "RECEIVE", "20", "Message does not exist")
		return
	}
	if v == 1 {
		clWriteJSON(w, http.StatusOK, AckResponseV1{MessageID: id})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (f *clFake) lookup(w http.ResponseWriter, v int, ods, workflow string) {
	if workflow != clWorkflow && workflow != "WORK FLOW" {
		clWriteJSON(w, http.StatusOK, map[string]any{"results": []any{}})
		return
	}
	if v == 1 {
		clWriteJSON(w, http.StatusOK, LookupV1{QueryID: "q-" + ods, Results: []LookupResultV1{{Address: clRecipient, Description: "TESTMB2", EndpointType: "MESH"}}})
		return
	}
	clWriteJSON(w, http.StatusOK, LookupV2{Results: []LookupResultV2{{MailboxID: clRecipient, MailboxName: "TESTMB2"}}})
}

// message returns a stored message's chunks, decoded, joined.
func (f *clFake) payload(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.msgs[id]
	if m == nil {
		f.t.Fatalf("no message %s", id)
	}
	var out []byte
	for _, c := range m.chunks {
		if m.encoding == "gzip" {
			c = clGunzip(f.t, c)
		}
		out = append(out, c...)
	}
	return out
}

func (f *clFake) message(id string) *clMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msgs[id]
}

func clGzip(p []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(p)
	_ = zw.Close()
	return b.Bytes()
}

func clGunzip(t *testing.T, p []byte) []byte {
	t.Helper()
	src := bytes.NewReader(p)
	zr, err := gzip.NewReader(src)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	// Each chunk must be exactly one complete gzip member.
	if src.Len() != 0 {
		t.Fatalf("%d bytes after the gzip member", src.Len())
	}
	return out
}

// clPattern makes n bytes that differ from chunk to chunk, so a chunk sent
// twice or out of order shows.
func clPattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

// clPKI is a throwaway CA with a server certificate for loopback and a
// client certificate.
type clPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newClPKI(t *testing.T) *clPKI {
	t.Helper()
	caKey := clKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "meshdoctor test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, eku x509.ExtKeyUsage, server bool) tls.Certificate {
		key := clKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &clPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = leaf(2, "localhost", x509.ExtKeyUsageServerAuth, true)
	p.client = leaf(3, "X26ABC1.X26.api.mesh-client.nhs.uk", x509.ExtKeyUsageClientAuth, false)
	return p
}

func clKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clStartMTLS serves h over TLS on loopback, requiring a client certificate
// issued by the test CA. conns counts the TCP connections accepted.
func clStartMTLS(t *testing.T, p *clPKI, h http.Handler, conns *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
	}
	if conns != nil {
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// clProxy is an HTTP proxy that only tunnels (CONNECT), as corporate
// proxies in front of MESH do. It records the targets it was asked for.
type clProxy struct {
	mu      sync.Mutex
	targets []string
}

func (p *clProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.mu.Unlock()
	upstream, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		conn.Close()
		upstream.Close()
		return
	}
	go func() {
		// Bytes the client sent after CONNECT may already be buffered.
		if n := rw.Reader.Buffered(); n > 0 {
			b, _ := rw.Reader.Peek(n)
			_, _ = upstream.Write(b)
		}
		_, _ = io.Copy(upstream, conn)
		upstream.Close()
	}()
	go func() {
		_, _ = io.Copy(conn, upstream)
		conn.Close()
	}()
}

func (p *clProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}
