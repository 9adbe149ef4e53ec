package sandbox

// Compatibility tests: the sandbox driven over plain HTTP with requests
// shaped byte for byte as NHS England's own MESH clients (and the MESH API
// specification's curl examples) send them, checking that the answers carry
// what those clients read. Requests and answers go over a raw TCP
// connection, so header names keep the exact spelling each client sends and
// the sandbox answers (Go's HTTP client would canonicalise both).
//
// Sources read for the request shapes (public repositories):
//   - Python: NHSDigital/mesh-client mesh_client/__init__.py (MeshClient,
//     AuthTokenGenerator, _BaseMessage) and tests/mesh_sandbox_tests.py.
//   - JavaScript: NHSDigital/Javascript-mesh-client src/headers,
//     src/get, src/post, src/put and src/examples/conformance.js.
//   - .NET: NHSDigital/dotnet-mesh-client Services/Mesh*Service.cs,
//     Clients/MeshConnectClient.cs, Helpers (ResponseHelper, FileHelpers,
//     MeshAuthorizationHelper).
//   - curl: NHSDigital/integration-adaptor-nhais mesh/mesh.sh.
//   - NHSDigital/mesh-api-specification specification/mesh-api.yaml.
//   - NHSDigital/mesh-sandbox src/mesh_sandbox/tests/admin.py (admin routes).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hdr is one request header line, name spelt exactly as the client does.
type hdr struct{ k, v string }

// wireReq is a request as it goes on the wire.
type wireReq struct {
	method  string
	path    string
	headers []hdr
	body    []byte
	// noLength sends no Content-Length for an empty body (curl -X POST
	// without data); chunked sends the body with Transfer-Encoding:
	// chunked (requests with a streamed body).
	noLength bool
	chunked  bool
}

// wireResp is an answer as it came off the wire.
type wireResp struct {
	status int
	lines  []hdr       // header lines in order, names as sent
	header http.Header // the same, canonicalised
	body   []byte      // transfer decoding undone; content encoding as sent
}

// raw returns the value of the header line whose name is exactly name.
func (r *wireResp) raw(name string) (string, bool) {
	for _, l := range r.lines {
		if l.k == name {
			return l.v, true
		}
	}
	return "", false
}

func (r *wireResp) get(name string) string { return r.header.Get(name) }

func (r *wireResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body %q is not a JSON object: %v", r.status, r.body, err)
	}
	return m
}

// payload is the body with its Content-Encoding undone, as every client
// here does.
func (r *wireResp) payload(t *testing.T) []byte {
	t.Helper()
	if r.get("Content-Encoding") != "gzip" {
		return r.body
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("Content-Encoding gzip but body is not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *sbx) addr() string { return s.srv.Listener.Addr().String() }

// writeWire writes a request's head (and its body unless holdBody).
func writeWire(w io.Writer, host string, q wireReq, holdBody bool) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", q.method, q.path, host)
	for _, h := range q.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.k, h.v)
	}
	switch {
	case q.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case len(q.body) > 0 || !q.noLength && (q.method == "POST" || q.method == "PUT"):
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	if holdBody {
		return nil
	}
	return writeWireBody(w, q)
}

func writeWireBody(w io.Writer, q wireReq) error {
	if !q.chunked {
		_, err := w.Write(q.body)
		return err
	}
	var b bytes.Buffer
	for rest := q.body; len(rest) > 0; {
		n := min(len(rest), 1000)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	b.WriteString("0\r\n\r\n")
	_, err := w.Write(b.Bytes())
	return err
}

// readWire reads one answer (interim 1xx answers included when asked).
func readWire(br *bufio.Reader, method string) (*wireResp, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	r := &wireResp{header: http.Header{}}
	if r.status, err = strconv.Atoi(parts[1]); err != nil {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	for {
		l, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		v = strings.TrimSpace(v)
		r.lines = append(r.lines, hdr{k, v})
		r.header.Add(k, v)
	}
	if r.status < 200 || method == "HEAD" || r.status == 204 || r.status == 304 {
		return r, nil
	}
	var body io.Reader = br
	switch {
	case strings.EqualFold(r.get("Transfer-Encoding"), "chunked"):
		body = httputil.NewChunkedReader(br)
	case r.get("Content-Length") != "":
		n, err := strconv.ParseInt(r.get("Content-Length"), 10, 64)
		if err != nil {
			return nil, err
		}
		body = io.LimitReader(br, n)
	}
	r.body, err = io.ReadAll(body)
	return r, err
}

// wire sends one request on a fresh connection and reads the answer. A
// connection failure comes back as status 0 with the error as the body, for
// the caller's status check to report (wire may run inside subtests, where
// s.t must not be failed).
func (s *sbx) wire(q wireReq) *wireResp {
	fail := func(what string, err error) *wireResp {
		return &wireResp{header: http.Header{}, body: []byte(fmt.Sprintf("%s %s: %s: %v", q.method, q.path, what, err))}
	}
	conn, err := net.DialTimeout("tcp", s.addr(), 5*time.Second)
	if err != nil {
		return fail("connecting", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := writeWire(conn, s.addr(), q, false); err != nil {
		return fail("writing", err)
	}
	r, err := readWire(bufio.NewReader(conn), q.method)
	if err != nil {
		return fail("reading the answer", err)
	}
	return r
}

// meshToken builds an NHSMESH Authorization value from its parts, written
// out here rather than with package mesh so that the test stands alone:
// HMAC-SHA256(shared key, mailbox:nonce:count:password:timestamp).
func meshToken(mailbox, nonce, count string, at time.Time) string {
	ts := at.UTC().Format("200601021504")
	mac := hmac.New(sha256.New, []byte(DefaultSharedKey))
	mac.Write([]byte(mailbox + ":" + nonce + ":" + count + ":" + DefaultPassword + ":" + ts))
	return "NHSMESH " + mailbox + ":" + nonce + ":" + count + ":" + ts + ":" + hex.EncodeToString(mac.Sum(nil))
}

// uuid4 is a random UUID in the lower-case hyphenated form of Python's
// str(uuid4()), JavaScript's uuid v4 and .NET's Guid.ToString().
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func gz(t *testing.T, b []byte) []byte { return gzipBytes(t, b) }

var realMessageID = regexp.MustCompile(`^[0-9]{20}_[0-9A-F]{6}$`)

func wantStatus(t *testing.T, what string, r *wireResp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
}

// jstr reads a string field of a decoded JSON object.
func jstr(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// ---------------------------------------------------------------------------
// Python: NHSDigital/mesh-client 3.x-5.x.

// pyClient sends what MeshClient does: session headers Accept (v2),
// User-Agent and Accept-Encoding: gzip on every request, and an
// Authorization from AuthTokenGenerator: one uuid4 nonce per client and a
// nonce count that starts at 0 and goes up by one per request.
type pyClient struct {
	s       *sbx
	mailbox string
	nonce   string
	count   int
}

func newPyClient(s *sbx, mailbox string) *pyClient {
	return &pyClient{s: s, mailbox: mailbox, nonce: uuid4()}
}

func (c *pyClient) req(method, path string, body []byte, extra ...hdr) wireReq {
	h := []hdr{
		{"User-Agent", "mesh_client;5.0.2;N/A;x86_64;Linux;6.8.0-45-generic #45-Ubuntu SMP PREEMPT_DYNAMIC"},
		{"Accept-Encoding", "gzip"},
		{"Accept", "application/vnd.mesh.v2+json"},
		{"Connection", "keep-alive"},
		{"Authorization", meshToken(c.mailbox, c.nonce, strconv.Itoa(c.count), c.s.clock.Now())},
	}
	c.count++
	return wireReq{method: method, path: path, headers: append(h, extra...), body: body}
}

func (c *pyClient) do(method, path string, body []byte, extra ...hdr) *wireResp {
	c.s.t.Helper()
	return c.s.wire(c.req(method, path, body, extra...))
}

// send is MeshClient.send_chunk for chunk k of n: chunk 1 carries the mex
// headers (always with Mex-Chunk-Range, 1:1 for a one-chunk message; the
// boolean flags as Y/N), later chunks only Content-Type, Mex-Chunk-Range and
// Content-Encoding. A compressed first chunk is a stream (sent chunked); a
// later chunk is a BytesIO (sent with a length) so that it can be retried.
func (c *pyClient) send(t *testing.T, to string, id string, k, n int, data []byte, compress bool, kwargs ...hdr) *wireResp {
	t.Helper()
	h := []hdr{{"Content-Type", "application/octet-stream"}, {"Mex-Chunk-Range", strconv.Itoa(k) + ":" + strconv.Itoa(n)}}
	path := "/messageexchange/" + c.mailbox + "/outbox"
	if k == 1 {
		h = append(h, hdr{"Mex-To", to})
		h = append(h, kwargs...)
	} else {
		path += "/" + id + "/" + strconv.Itoa(k)
	}
	body := data
	if compress {
		h = append(h, hdr{"Content-Encoding", "gzip"})
		body = gz(t, data)
	}
	q := c.req("POST", path, body, h...)
	q.chunked = compress && k == 1
	return c.s.wire(q)
}

// sendMessage is MeshClient.send_message: it raises MeshError when the first
// answer is 417 or its JSON has errorDescription or detail, and otherwise
// reads message_id.
func (c *pyClient) sendMessage(t *testing.T, to string, chunks [][]byte, compress bool, kwargs ...hdr) string {
	t.Helper()
	r := c.send(t, to, "", 1, len(chunks), chunks[0], compress, kwargs...)
	m := r.json(t)
	if r.status == 417 || m["errorDescription"] != nil || m["detail"] != nil || (r.status != 200 && r.status != 202) {
		t.Fatalf("send_message: MeshError: %d %s", r.status, r.body)
	}
	id := jstr(m, "message_id")
	if !realMessageID.MatchString(id) {
		t.Fatalf("send_message: message_id %q in %s", id, r.body)
	}
	for k := 2; k <= len(chunks); k++ {
		r := c.send(t, to, id, k, len(chunks), chunks[k-1], compress)
		if r.status != 200 && r.status != 202 { // send_chunk: anything else is raise_for_status
			t.Fatalf("send_chunk %d: %d %s", k, r.status, r.body)
		}
	}
	return id
}

// pyMessage is what Message reads from the first download answer.
type pyMessage struct {
	mex                    map[string]string // mex_headers(): lower-cased names without "mex-"
	sender, recipient      string
	messageID, messageType string
	workflowID, filename   string
	localID, subject       string
	contentType            string
	compressed, encrypted  bool
	data                   []byte
}

// retrieveMessage is MeshClient.retrieve_message and Message.read: chunk 1
// from …/inbox/{id}, chunks 2..n (n from Mex-Chunk-Range, "1:1" when
// absent) from …/inbox/{id}/{k}; raise_for_status on each; gzip answers
// inflated.
func (c *pyClient) retrieveMessage(t *testing.T, id string) pyMessage {
	t.Helper()
	base := "/messageexchange/" + c.mailbox + "/inbox/" + id
	r := c.do("GET", base, nil)
	if r.status >= 400 {
		t.Fatalf("retrieve_message: HTTPError %d %s", r.status, r.body)
	}
	m := pyMessage{mex: map[string]string{}}
	for _, l := range r.lines {
		if lk := strings.ToLower(l.k); strings.HasPrefix(lk, "mex-") {
			m.mex[lk[4:]] = l.v
		}
	}
	flag := func(name string) bool {
		v := strings.ToUpper(r.get(name))
		return v == "Y" || v == "TRUE"
	}
	m.sender, m.recipient = r.get("Mex-From"), r.get("Mex-To")
	m.messageID, m.messageType = r.get("Mex-MessageID"), r.get("Mex-MessageType")
	m.workflowID, m.filename = r.get("Mex-WorkflowID"), r.get("Mex-FileName")
	m.localID, m.subject = r.get("Mex-LocalID"), r.get("Mex-Subject")
	m.compressed, m.encrypted = flag("Mex-Content-Compressed"), flag("Mex-Content-Encrypted")
	if m.contentType = r.get("Mex-Content-Type"); m.contentType == "" {
		m.contentType = r.get("Content-Type")
	}
	chunkRange := r.get("Mex-Chunk-Range")
	if chunkRange == "" {
		chunkRange = "1:1"
	}
	total, err := strconv.Atoi(chunkRange[strings.IndexByte(chunkRange, ':')+1:])
	if err != nil {
		t.Fatalf("Mex-Chunk-Range %q: %v", chunkRange, err)
	}
	m.data = r.payload(t)
	for k := 2; k <= total; k++ {
		r := c.do("GET", base+"/"+strconv.Itoa(k), nil)
		if r.status >= 400 {
			t.Fatalf("chunk %d: HTTPError %d %s", k, r.status, r.body)
		}
		m.data = append(m.data, r.payload(t)...)
	}
	return m
}

// iterateMessageIDs is MeshClient.iterate_message_ids: the first page from
// …/inbox with max_results, then every links.next prefixed with the base URL.
func (c *pyClient) iterateMessageIDs(t *testing.T, batch int) (ids []string, pages int) {
	t.Helper()
	path := "/messageexchange/" + c.mailbox + "/inbox?max_results=" + strconv.Itoa(batch)
	for path != "" {
		r := c.do("GET", path, nil)
		wantStatus(t, "inbox page", r, 200)
		var page struct {
			Messages []string          `json:"messages"`
			Links    map[string]string `json:"links"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("inbox page %s: %v", r.body, err)
		}
		ids = append(ids, page.Messages...)
		pages++
		path = page.Links["next"]
		if path != "" && !strings.HasPrefix(path, "/messageexchange/"+c.mailbox+"/inbox?") {
			t.Fatalf("links.next %q is not a path the client can put after its base URL", path)
		}
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
	}
	return ids, pages
}

func TestCompatPythonMeshClient(t *testing.T) {
	s := newSBX(t)
	alice, bob := newPyClient(s, "X26ABC1"), newPyClient(s, "X26ABC2")

	t.Run("ping and handshake", func(t *testing.T) {
		r := alice.do("GET", "/messageexchange/_ping", nil)
		wantStatus(t, "ping", r, 200)
		_ = r.json(t) // ping() returns response.json()
		for _, c := range []*pyClient{alice, bob} {
			r := c.do("POST", "/messageexchange/"+c.mailbox, nil,
				hdr{"mex-ClientVersion", "mesh_client==5.0.2"}, hdr{"mex-OSArchitecture", "x86_64"},
				hdr{"mex-OSName", "Linux"}, hdr{"mex-OSVersion", "6.8.0-45-generic #45-Ubuntu SMP PREEMPT_DYNAMIC"},
				hdr{"mex-JavaVersion", "N/A"})
			wantStatus(t, "handshake", r, 200) // raise_for_status, then b"hello"
		}
	})

	// A one-chunk message with every optional argument, a chunked message
	// with transparent compression (test_transparent_compression,
	// test_send_receive_combine_chunked_small_chunk_size) and a plain one
	// (test_send_receive).
	payload := []byte("H H H H W W W W W W W W W W W W W W W W W W W W")
	var chunks [][]byte
	for i := 0; i < len(payload); i += 5 {
		chunks = append(chunks, payload[i:min(i+5, len(payload))])
	}
	var optID, chunkedID, plainID string
	t.Run("send", func(t *testing.T) {
		optID = alice.sendMessage(t, "X26ABC2", [][]byte{[]byte("Hello Bob 5")}, false,
			hdr{"Mex-WorkflowID", "111"}, hdr{"Mex-FileName", "upload.txt"}, hdr{"Mex-LocalID", "12345"},
			hdr{"Mex-Subject", "Hello World"}, hdr{"Mex-Content-Encrypted", "N"}, hdr{"Mex-Content-Compressed", "Y"},
			hdr{"Mex-Content-Checksum", "md5:b10a8db164e0754105b7a99be72e3fe5"}, hdr{"Mex-PartnerID", "test"},
			hdr{"Mex-Content-Type", "text/csv"})
		chunkedID = alice.sendMessage(t, "X26ABC2", chunks, true, hdr{"Mex-WorkflowID", uuid4()})
		plainID = alice.sendMessage(t, "X26ABC2", [][]byte{[]byte("Hello Bob 1\nHello Bob 2")}, false, hdr{"Mex-WorkflowID", uuid4()})
	})

	t.Run("retrieve", func(t *testing.T) {
		m := bob.retrieveMessage(t, optID)
		for name, pair := range map[string][2]string{
			"subject": {m.subject, "Hello World"}, "filename": {m.filename, "upload.txt"}, "local_id": {m.localID, "12345"},
			"message_type": {m.messageType, "DATA"}, "partner-id": {m.mex["partnerid"], "test"}, "sender": {m.sender, "X26ABC1"},
			"recipient": {m.recipient, "X26ABC2"}, "message_id": {m.messageID, optID}, "workflow_id": {m.workflowID, "111"},
			"content_type": {m.contentType, "text/csv"}, "checksum": {m.mex["content-checksum"], "md5:b10a8db164e0754105b7a99be72e3fe5"},
			"data": {string(m.data), "Hello Bob 5"},
		} {
			if pair[0] != pair[1] {
				t.Errorf("test_optional_args: %s = %q, want %q", name, pair[0], pair[1])
			}
		}
		if m.encrypted || !m.compressed {
			t.Errorf("test_optional_args: encrypted=%v compressed=%v, want false, true", m.encrypted, m.compressed)
		}

		m = bob.retrieveMessage(t, chunkedID)
		if string(m.data) != string(payload) || m.mex["chunk-range"] != "1:"+strconv.Itoa(len(chunks)) {
			t.Errorf("chunked: %q, chunk-range %q", m.data, m.mex["chunk-range"])
		}
		if !m.compressed {
			t.Errorf("test_transparent_compression: msg.compressed is false for a gzip-encoded message")
		}
		if m.mex["from"] != "X26ABC1" {
			t.Errorf("mex_header(\"from\") = %q", m.mex["from"])
		}

		m = bob.retrieveMessage(t, plainID)
		if string(m.data) != "Hello Bob 1\nHello Bob 2" || m.contentType != "application/octet-stream" || m.compressed {
			t.Errorf("test_send_receive: %q content_type %q compressed %v", m.data, m.contentType, m.compressed)
		}
	})

	t.Run("list, count and pages", func(t *testing.T) {
		var sent []string
		for i := 0; i < 22; i++ {
			sent = append(sent, alice.sendMessage(t, "X26ABC2", [][]byte{[]byte("Hello Bob " + strconv.Itoa(i))}, false, hdr{"Mex-WorkflowID", uuid4()}))
		}
		all := append([]string{optID, chunkedID, plainID}, sent...)
		r := bob.do("GET", "/messageexchange/X26ABC2/inbox?max_results=10", nil)
		var first struct{ Messages []string }
		if err := json.Unmarshal(r.body, &first); err != nil || strings.Join(first.Messages, ",") != strings.Join(all[:10], ",") {
			t.Errorf("list_messages(max_results=10) = %v (%v), want the first 10 sent", first.Messages, err)
		}
		r = bob.do("GET", "/messageexchange/X26ABC2/inbox?max_results=10&workflow_filter=111", nil)
		if err := json.Unmarshal(r.body, &first); err != nil || len(first.Messages) != 1 || first.Messages[0] != optID {
			t.Errorf("workflow_filter=111: %s", r.body)
		}
		ids, pages := bob.iterateMessageIDs(t, 10)
		if strings.Join(ids, ",") != strings.Join(all, ",") || pages != 3 {
			t.Errorf("iterate_message_ids(batch_size=10): %d ids in %d pages, want %d in 3", len(ids), pages, len(all))
		}
		r = bob.do("GET", "/messageexchange/X26ABC2/count", nil)
		wantStatus(t, "count", r, 200)
		if n, _ := r.json(t)["count"].(float64); int(n) != len(all) {
			t.Errorf("count_messages() = %v, want %d", r.json(t)["count"], len(all))
		}
		// Acknowledge everything (the iterate-and-context-manager pattern).
		for _, id := range ids {
			r := bob.do("PUT", "/messageexchange/X26ABC2/inbox/"+id+"/status/acknowledged", nil)
			wantStatus(t, "acknowledge_message", r, 200)
		}
		if ids, _ := bob.iterateMessageIDs(t, 10); len(ids) != 0 {
			t.Errorf("inbox after acknowledging: %v", ids)
		}
	})

	t.Run("tracking", func(t *testing.T) {
		id := alice.sendMessage(t, "X26ABC2", [][]byte{[]byte("Hello World")}, false, hdr{"Mex-WorkflowID", uuid4()})
		track := func() *wireResp {
			return alice.do("GET", "/messageexchange/X26ABC1/outbox/tracking?messageID="+id, nil)
		}
		if r := track(); r.status != 200 || jstr(r.json(t), "status") != "accepted" || jstr(r.json(t), "message_id") != id {
			t.Fatalf("track_message before ack: %d %s", r.status, r.body)
		}
		wantStatus(t, "ack", bob.do("PUT", "/messageexchange/X26ABC2/inbox/"+id+"/status/acknowledged", nil), 200)
		if r := track(); r.status != 200 || jstr(r.json(t), "status") != "acknowledged" {
			t.Fatalf("track_message after ack: %d %s", r.status, r.body)
		}
		// test_msg_id_tracking_message_not_found: uuid4().hex
		unknown := strings.ReplaceAll(uuid4(), "-", "")
		wantStatus(t, "tracking an unknown id", alice.do("GET", "/messageexchange/X26ABC1/outbox/tracking?messageID="+unknown, nil), 404)
	})

	t.Run("endpoint lookup", func(t *testing.T) {
		r := alice.do("GET", "/messageexchange/endpointlookup/X26/TEST_WORKFLOW", nil)
		wantStatus(t, "lookup_endpoint", r, 200)
		var v struct {
			Results []map[string]string `json:"results"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil || len(v.Results) != 1 ||
			v.Results[0]["mailbox_id"] != "X26ABC2" || v.Results[0]["mailbox_name"] != "TESTMB2" {
			t.Errorf("lookup_endpoint: %s", r.body)
		}
	})

	// send_message turns these answers into MeshError: the body must be
	// JSON with errorDescription or detail (test_error_handling).
	t.Run("send errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			to     string
			body   []byte
			kwargs []hdr
			status int
		}{
			{"empty message, no workflow (test_error_handling)", "X26ABC2", nil, nil, 400},
			{"empty message", "X26ABC2", nil, []hdr{{"Mex-WorkflowID", "WF"}}, 417},
			{"unknown recipient", "X26NOPE9", []byte("x"), []hdr{{"Mex-WorkflowID", "WF"}}, 417},
			{"not gzip", "X26ABC2", []byte("x"), []hdr{{"Mex-WorkflowID", "WF"}, {"Content-Encoding", "br"}}, 422},
		} {
			r := alice.send(t, tc.to, "", 1, 1, tc.body, false, tc.kwargs...)
			if r.status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
				continue
			}
			m := r.json(t)
			detail, _ := m["detail"].([]any)
			if len(detail) == 0 {
				t.Errorf("%s: no detail list in %s", tc.name, r.body)
				continue
			}
			if first, _ := detail[0].(map[string]any); jstr(first, "msg") == "" {
				t.Errorf("%s: detail[0].msg empty in %s", tc.name, r.body)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// JavaScript: NHSDigital/Javascript-mesh-client (axios).

// jsHeaders are generateHeaders' lower-case headers with a fresh uuid nonce
// and a nonce count of 0 for every request, plus what axios adds.
func jsHeaders(s *sbx, mailbox, clientVersion string, extra ...hdr) []hdr {
	h := []hdr{
		{"accept", "application/vnd.mesh.v2+json"},
		{"authorization", meshToken(mailbox, uuid4(), "0", s.clock.Now())},
		{"mex-clientversion", clientVersion},
		{"mex-osarchitecture", "x86_64"},
		{"mex-osname", "Linux"},
		{"mex-osversion", "#44~18.04.2-Ubuntu"},
		{"User-Agent", "axios/1.7.9"},
		{"Accept-Encoding", "gzip, compress, deflate, br"},
	}
	return append(h, extra...)
}

// jsReadMessage is readMessage: GET …/inbox/{id}/{k} from k = 1 (chunk 1
// too), 200 or 206 accepted, until mex-chunk-range is absent or k is its
// total; axios inflates gzip answers.
func jsReadMessage(t *testing.T, s *sbx, mailbox, id string) (first *wireResp, data []byte, status int) {
	t.Helper()
	for k := 1; ; k++ {
		r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + mailbox + "/inbox/" + id + "/" + strconv.Itoa(k),
			headers: jsHeaders(s, mailbox, "javascript-mesh-client==1.1.0")})
		if k == 1 {
			first = r
		}
		if r.status != 200 && r.status != 206 {
			return first, data, r.status // axios rejects: error.response.status
		}
		data = append(data, r.payload(t)...)
		cr := r.header.Get("mex-chunk-range")
		if cr == "" {
			return first, data, r.status
		}
		total, err := strconv.Atoi(cr[strings.IndexByte(cr, ':')+1:])
		if err != nil {
			t.Fatalf("mex-chunk-range %q", cr)
		}
		if k == total {
			return first, data, r.status
		}
		if k > 1000 {
			t.Fatal("readMessage does not end")
		}
	}
}

func TestCompatJavaScriptClient(t *testing.T) {
	s := newSBX(t)
	getHeaders := func(mailbox string) []hdr { // src/get/generate_headers.js
		return jsHeaders(s, mailbox, "ApiDocs==0.0.1", hdr{"Content-Type", "application/json"})
	}
	handshake := func(mailbox string) *wireResp { // handShake: GET
		return s.wire(wireReq{method: "GET", path: "/messageexchange/" + mailbox, headers: getHeaders(mailbox)})
	}
	sendMessage := func(from, to, text string) *wireResp { // sendMessage: axios.post(url, {data: message})
		body, _ := json.Marshal(map[string]string{"data": text})
		h := jsHeaders(s, from, "ApiDocs==javascript-mesh-client-0.0.1",
			hdr{"mex-from", from}, hdr{"mex-to", to}, hdr{"mex-workflowid", "API-DOCS-TEST"}, hdr{"mex-filename", "None"},
			hdr{"Content-Type", "application/json"})
		return s.wire(wireReq{method: "POST", path: "/messageexchange/" + from + "/outbox", headers: h, body: body})
	}
	messageCount := func(mailbox string) map[string]any { // getMessageCount: GET …/inbox
		r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + mailbox + "/inbox", headers: getHeaders(mailbox)})
		wantStatus(t, "getMessageCount", r, 200)
		return r.json(t)
	}
	markAsRead := func(mailbox, id string) *wireResp { // axios.put(url, {messageId}, config)
		h := jsHeaders(s, mailbox, "javascript-mesh-client==1.1.0", hdr{"content-type", "application/octet-stream"})
		return s.wire(wireReq{method: "PUT", path: "/messageexchange/" + mailbox + "/inbox/" + id + "/status/acknowledged",
			headers: h, body: []byte(`{"messageId":"` + id + `"}`)})
	}

	wantStatus(t, "handShake", handshake("X26ABC1"), 200)
	wantStatus(t, "handShake", handshake("X26ABC2"), 200)

	// Test 1: an uncompressed message.
	r := sendMessage("X26ABC1", "X26ABC2", "This is an uncompressed message")
	wantStatus(t, "sendMessage", r, 202)
	plainID := jstr(r.json(t), "message_id")

	// Test 3: sendChunkedMessage: every chunk gzip-compressed on its own,
	// every request with the full set of mex headers.
	content := bytes.Repeat([]byte("organisation,postcode,phone\n"), 300)
	var parts [][]byte
	for i := 0; i < len(content); i += 3000 {
		parts = append(parts, content[i:min(i+3000, len(content))])
	}
	var chunkedID string
	for i, part := range parts {
		h := jsHeaders(s, "X26ABC1", "javascript-mesh-client==1.1.0",
			hdr{"content-type", "application/octet-stream"}, hdr{"mex-from", "X26ABC1"}, hdr{"mex-to", "X26ABC2"},
			hdr{"mex-workflowid", "API-DOCS-TEST"}, hdr{"mex-filename", "message.txt.gz"},
			hdr{"mex-chunk-range", strconv.Itoa(i+1) + ":" + strconv.Itoa(len(parts))}, hdr{"content-encoding", "gzip"})
		path := "/messageexchange/X26ABC1/outbox"
		if chunkedID != "" {
			path += "/" + chunkedID + "/" + strconv.Itoa(i+1)
		}
		r := s.wire(wireReq{method: "POST", path: path, headers: h, body: gz(t, part)})
		wantStatus(t, "sendChunkedMessage chunk "+strconv.Itoa(i+1), r, 202)
		if chunkedID == "" {
			chunkedID = jstr(r.json(t), "message_id")
		}
	}

	// saveMessagesInBatches: approx_inbox_count and messages, then
	// readMessage and markAsRead for each.
	inbox := messageCount("X26ABC2")
	if n, _ := inbox["approx_inbox_count"].(float64); n != 2 {
		t.Fatalf("approx_inbox_count: %v", inbox)
	}
	ids, _ := inbox["messages"].([]any)
	if len(ids) != 2 || ids[0] != plainID || ids[1] != chunkedID {
		t.Fatalf("messages %v, want [%s %s]", ids, plainID, chunkedID)
	}
	first, data, status := jsReadMessage(t, s, "X26ABC2", plainID)
	if status != 200 || string(data) != `{"data":"This is an uncompressed message"}` || first.header.Get("mex-messagetype") != "DATA" {
		t.Errorf("readMessage(plain): %d %q type %q", status, data, first.header.Get("mex-messagetype"))
	}
	first, data, status = jsReadMessage(t, s, "X26ABC2", chunkedID)
	if status != 200 || !bytes.Equal(data, content) || first.status != 206 || first.header.Get("mex-filename") != "message.txt.gz" {
		t.Errorf("readMessage(chunked): last %d first %d, %d of %d bytes, filename %q", status, first.status, len(data), len(content), first.header.Get("mex-filename"))
	}
	for _, id := range []string{plainID, chunkedID} {
		wantStatus(t, "markAsRead", markAsRead("X26ABC2", id), 200)
	}
	if n, _ := messageCount("X26ABC2")["approx_inbox_count"].(float64); n != 0 {
		t.Errorf("approx_inbox_count after markAsRead: %v", n)
	}

	// Test 703: an undelivered-message REPORT read the same way: one
	// answer, no mex-chunk-range, so the loop ends after chunk 1.
	report := injectReport(t, s, map[string]any{"mailbox_id": "X26ABC1", "code": "14", "description": "x",
		"workflow_id": "API-DOCS-TEST", "linked_message_id": plainID})
	first, data, status = jsReadMessage(t, s, "X26ABC1", report)
	if status != 200 || len(data) != 0 || first.header.Get("mex-messagetype") != "REPORT" {
		t.Errorf("readMessage(REPORT): %d %q type %q", status, data, first.header.Get("mex-messagetype"))
	}
	wantStatus(t, "markAsRead(REPORT)", markAsRead("X26ABC1", report), 200)

	// The conformance script's failure cases (701, 702, 704, 705): axios
	// rejects, and the script reports error.response.status.
	for _, tc := range []struct {
		name   string
		got    func() int
		status int
	}{
		{"701 handshake as a mailbox that is not ours", func() int { return handshake("notAuthorizedMailbox").status }, 403},
		{"702 send to an invalid mailbox", func() int { return sendMessage("X26ABC1", "aninvalidid1234", "x").status }, 417},
		{"704 download a message that does not exist", func() int {
			_, _, st := jsReadMessage(t, s, "X26ABC2", "thisisaninvalidmessageid1234567890")
			return st
		}, 404},
		{"705 download a removed (acknowledged) message", func() int {
			_, _, st := jsReadMessage(t, s, "X26ABC2", plainID)
			return st
		}, 410},
	} {
		if got := tc.got(); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
}

// injectReport puts a REPORT into a mailbox with NHS's sandbox's admin route.
func injectReport(t *testing.T, s *sbx, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	r := s.wire(wireReq{method: "POST", path: "/messageexchange/admin/report",
		headers: []hdr{{"Content-Type", "application/json"}}, body: b})
	wantStatus(t, "admin report", r, 200)
	id := jstr(r.json(t), "message_id")
	if id == "" {
		t.Fatalf("admin report: no message_id in %s", r.body)
	}
	return id
}

// ---------------------------------------------------------------------------
// .NET: NHSDigital/dotnet-mesh-client.

// netHeaders are what the .NET services add (authorization: a new Guid and
// a nonce count of 0; accept), then MeshConnectClient.addHeaders.
func netHeaders(s *sbx, mailbox, accept string, extra ...hdr) []hdr {
	h := []hdr{
		{"authorization", meshToken(mailbox, uuid4(), "0", s.clock.Now())},
		{"accept", accept},
	}
	h = append(h, extra...)
	return append(h,
		hdr{"mex-clientversion", "ApiDocs==0.0.1"},
		hdr{"mex-osarchitecture", "x86_64"},
		hdr{"mex-osname", "Unix"},
		hdr{"mex-osversion", "Unix 6.8.0.45"},
	)
}

// netHeader is ResponseHelper.GetHeaderItemValue: the first header whose
// name equals key exactly (a case-sensitive comparison), else null.
func netHeader(r *wireResp, key string) (string, bool) { return r.raw(key) }

// netDecodes reports whether System.Text.Json can deserialize the body
// into a class: it fails on an empty body; "null" and objects are fine.
func netDecodes(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && json.Valid(b) && (b[0] == '{' || string(b) == "null")
}

func TestCompatDotNetClient(t *testing.T) {
	s := newSBX(t)
	const v2, anyType = "application/vnd.mesh.v2+json", "*/*"
	const from, to, workflow = "X26ABC2", "X26ABC1", "TEST-WORKFLOW"
	base := "/messageexchange/"

	// MeshHandshakeAsync: GET with accept */* and a HandshakeResponse
	// (mailboxId) from the body.
	r := s.wire(wireReq{method: "GET", path: base + from, headers: netHeaders(s, from, anyType, hdr{"User_Agent", "my-client;windows-10;"})})
	wantStatus(t, "MeshHandshakeAsync", r, 200)
	if jstr(r.json(t), "mailboxId") != from {
		t.Errorf("HandshakeResponse.MailboxId: %s", r.body)
	}

	// BuildMessage: mex-from, mex-to, mex-workflowid, mex-filename, and
	// mex-localid and Mex-Subject even when they are null (empty values).
	build := func(path, to, fileName string, body []byte, gzipped bool, extra ...hdr) wireReq {
		h := netHeaders(s, from, v2, append([]hdr{{"mex-from", from}, {"mex-to", to}, {"mex-workflowid", workflow},
			{"mex-filename", fileName}, {"mex-localid", ""}, {"Mex-Subject", ""}}, extra...)...)
		h = append(h, hdr{"Content-Type", "application/octet-stream"})
		if gzipped {
			h = append(h, hdr{"Content-Encoding", "gzip"})
		}
		return wireReq{method: "POST", path: path, headers: h, body: body}
	}
	plain := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
	ids := map[string]string{}
	for _, tc := range []struct {
		name    string
		gzipped bool
	}{{"SendUnCompressedMessageAsync", false}, {"SendCompressedMessageAsync", true}} {
		body := plain
		if tc.gzipped {
			body = gz(t, plain)
		}
		r := s.wire(build(base+from+"/outbox", to, "TestFile.txt", body, tc.gzipped))
		wantStatus(t, tc.name, r, 202)
		if !netDecodes(r.body) || !realMessageID.MatchString(jstr(r.json(t), "message_id")) {
			t.Fatalf("%s: SendMessageResponse from %s", tc.name, r.body)
		}
		ids[tc.name] = jstr(r.json(t), "message_id")
	}

	// SendChunkedMessageAsync: every chunk gzip-compressed, every request
	// built the same way, with mex-chunk-range; every answer is
	// JSON-deserialized, chunks 2..n included.
	content := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 200)
	var parts [][]byte
	for i := 0; i < len(content); i += 4000 {
		parts = append(parts, content[i:min(i+4000, len(content))])
	}
	var chunkedID string
	for i, part := range parts {
		path := base + from + "/outbox"
		if i > 0 {
			path += "/" + chunkedID + "/" + strconv.Itoa(i+1)
		}
		r := s.wire(build(path, to, "TestFile.txt", gz(t, part), true, hdr{"mex-chunk-range", strconv.Itoa(i+1) + ":" + strconv.Itoa(len(parts))}))
		wantStatus(t, "SendChunkedMessageAsync chunk "+strconv.Itoa(i+1), r, 202)
		if !netDecodes(r.body) {
			t.Fatalf("chunk %d: JsonSerializer.Deserialize would throw on %q", i+1, r.body)
		}
		if i == 0 {
			chunkedID = jstr(r.json(t), "message_id")
		}
	}

	// GetMessagesAsync: CheckInboxResponse.messages.
	r = s.wire(wireReq{method: "GET", path: base + to + "/inbox", headers: netHeaders(s, to, v2)})
	wantStatus(t, "GetMessagesAsync", r, 200)
	listed := fmt.Sprint(r.json(t)["messages"])
	for _, id := range []string{ids["SendUnCompressedMessageAsync"], ids["SendCompressedMessageAsync"], chunkedID} {
		if !strings.Contains(listed, id) {
			t.Errorf("GetMessagesAsync: %s not in %s", id, listed)
		}
	}

	// GetHeadMessageByIdAsync: the metadata comes from lower-case header
	// names, compared case-sensitively.
	for name, id := range map[string]string{"plain": ids["SendUnCompressedMessageAsync"], "chunked": chunkedID} {
		r := s.wire(wireReq{method: "HEAD", path: base + to + "/inbox/" + id, headers: netHeaders(s, to, v2, hdr{"User_Agent", "my-client;windows-10;"})})
		wantStatus(t, "GetHeadMessageByIdAsync "+name, r, 200)
		for key, want := range map[string]string{"mex-workflowid": workflow, "mex-to": to, "mex-from": from,
			"mex-messageid": id, "mex-filename": "TestFile.txt", "mex-messagetype": "DATA"} {
			if got, ok := netHeader(r, key); !ok || got != want {
				t.Errorf("HEAD %s: header %q = %q (present %v), want %q; names sent: %v", name, key, got, ok, want, r.lines)
			}
		}
	}

	// GetMessageByIdAsync (no Accept-Encoding: gzip is inflated for it):
	// FileAttachment from mex-filename, mex-chunk-range and the body.
	for _, name := range []string{"SendUnCompressedMessageAsync", "SendCompressedMessageAsync"} {
		r := s.wire(wireReq{method: "GET", path: base + to + "/inbox/" + ids[name], headers: netHeaders(s, to, v2)})
		wantStatus(t, "GetMessageByIdAsync after "+name, r, 200)
		if r.get("Content-Encoding") != "" || !bytes.Equal(r.body, plain) {
			t.Errorf("GetMessageByIdAsync after %s: encoding %q body %q", name, r.get("Content-Encoding"), r.body)
		}
		if fn, _ := netHeader(r, "mex-filename"); fn != "TestFile.txt" {
			t.Errorf("GetMessageByIdAsync: mex-filename %q", fn)
		}
		if cr, _ := netHeader(r, "mex-chunk-range"); cr != "1:1" {
			t.Errorf("GetMessageByIdAsync: mex-chunk-range %q", cr)
		}
	}

	// GetChunkedMessageByIdAsync: 206 with mex-chunk-range 1:n, then
	// …/{k}. The last chunk is 200 as the specification says (this .NET
	// release treats a 200 there as "not a chunked message"; NHS's sandbox
	// answers 200 too).
	var got []byte
	for k := 1; k <= len(parts); k++ {
		path := base + to + "/inbox/" + chunkedID
		if k > 1 {
			path += "/" + strconv.Itoa(k)
		}
		r := s.wire(wireReq{method: "GET", path: path, headers: netHeaders(s, to, v2)})
		want := 206
		if k == len(parts) {
			want = 200
		}
		wantStatus(t, "chunk "+strconv.Itoa(k), r, want)
		if cr, _ := netHeader(r, "mex-chunk-range"); cr != strconv.Itoa(k)+":"+strconv.Itoa(len(parts)) {
			t.Errorf("chunk %d: mex-chunk-range %q", k, cr)
		}
		got = append(got, r.body...)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("ReassembleChunkedFile: %d bytes, want %d", len(got), len(content))
	}

	// AcknowledgeMessageByIdAsync: accept */*, AcknowledgeMessageResponse
	// (messageId) from the body.
	for _, id := range []string{ids["SendUnCompressedMessageAsync"], ids["SendCompressedMessageAsync"], chunkedID} {
		r := s.wire(wireReq{method: "PUT", path: base + to + "/inbox/" + id + "/status/acknowledged",
			headers: netHeaders(s, to, anyType, hdr{"User_Agent", "my-client;windows-10;"})})
		wantStatus(t, "AcknowledgeMessageByIdAsync", r, 200)
		if jstr(r.json(t), "messageId") != id {
			t.Errorf("AcknowledgeMessageResponse.MessageId: %s, want %s", r.body, id)
		}
	}

	// Every failure is deserialized into APIErrorResponse (errorEvent,
	// errorCode, errorDescription as strings): the body must be JSON.
	for _, tc := range []struct {
		name   string
		q      wireReq
		status int
	}{
		{"download of an unknown message", wireReq{method: "GET", path: base + to + "/inbox/20240101000000000000_ABCDEF", headers: netHeaders(s, to, v2)}, 404},
		{"download of an acknowledged message", wireReq{method: "GET", path: base + to + "/inbox/" + chunkedID, headers: netHeaders(s, to, v2)}, 410},
		{"ack of an unknown message", wireReq{method: "PUT", path: base + to + "/inbox/NOSUCH/status/acknowledged", headers: netHeaders(s, to, anyType)}, 404},
		{"send to an unknown mailbox", build(base+from+"/outbox", "X26NOPE9", "f", []byte("x"), false), 417},
		{"handshake with the wrong mailbox", wireReq{method: "GET", path: base + to, headers: netHeaders(s, from, anyType)}, 403},
	} {
		r := s.wire(tc.q)
		if r.status != tc.status || !netDecodes(r.body) {
			t.Errorf("%s: %d %q, want %d and a JSON body", tc.name, r.status, r.body, tc.status)
			continue
		}
		if tc.q.headers[1].v == anyType {
			m := r.json(t)
			for _, k := range []string{"errorEvent", "errorCode", "errorDescription"} {
				if _, ok := m[k].(string); !ok {
					t.Errorf("%s: APIErrorResponse.%s is not a string in %s", tc.name, k, r.body)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// curl: NHSDigital/integration-adaptor-nhais mesh/mesh.sh.

// nhaisToken is create_token: a lower-cased uuidgen nonce and the nonce
// count written "001".
func nhaisToken(s *sbx, mailbox string) string {
	return meshToken(mailbox, strings.ToLower(uuid4()), "001", s.clock.Now())
}

// curlHeaders are curl's own headers, then the script's -H headers, in
// order.
func curlHeaders(token string, extra ...hdr) []hdr {
	h := []hdr{{"User-Agent", "curl/7.68.0"}, {"Accept", "*/*"}, {"Authorization", token}}
	h = append(h, extra...)
	return append(h, hdr{"Mex-ClientVersion", "1.0"}, hdr{"Mex-JavaVersion", "1.7.0_60"},
		hdr{"Mex-OSArchitecture", "Windows 7"}, hdr{"Mex-OSName", "x86"}, hdr{"Mex-OSVersion", "6.1"})
}

func TestCompatNHAISCurlScript(t *testing.T) {
	s := newSBX(t)
	const mb, to = "X26ABC1", "X26ABC2"
	for _, tc := range []struct {
		name    string
		mailbox string
		q       func(token string) wireReq
		status  int
		check   func(t *testing.T, r *wireResp)
	}{
		{"auth (POST, no body, no Content-Length)", mb, func(tok string) wireReq {
			return wireReq{method: "POST", path: "/messageexchange/" + mb, headers: curlHeaders(tok), noLength: true}
		}, 200, func(t *testing.T, r *wireResp) {
			if jstr(r.json(t), "mailboxId") != mb {
				t.Errorf("body %s", r.body)
			}
		}},
		{"send (-d body)", mb, func(tok string) wireReq {
			return wireReq{method: "POST", path: "/messageexchange/" + mb + "/outbox", body: []byte("UNB+UNOA:2+TES5+XX11+020114:1619+00000003'"),
				headers: curlHeaders(tok, hdr{"Mex-From", mb}, hdr{"Mex-To", to}, hdr{"Mex-WorkflowID", "workflow1"},
					hdr{"Content-Type", "application/octet-stream"}, hdr{"Mex-MessageType", "DATA"},
					hdr{"Mex-FileName", "test-filename.txt"}, hdr{"Mex-Version", "1.0"})}
		}, 202, func(t *testing.T, r *wireResp) {
			if !realMessageID.MatchString(jstr(r.json(t), "messageID")) {
				t.Errorf("v1 send body %s", r.body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.wire(tc.q(nhaisToken(s, tc.mailbox)))
			wantStatus(t, tc.name, r, tc.status)
			tc.check(t, r)
		})
	}

	// inbox, download and ack as the recipient (TO_MAILBOX's own run).
	r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + to + "/inbox", headers: curlHeaders(nhaisToken(s, to))})
	wantStatus(t, "inbox", r, 200)
	msgs, _ := r.json(t)["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("inbox %s", r.body)
	}
	id := msgs[0].(string)
	r = s.wire(wireReq{method: "GET", path: "/messageexchange/" + to + "/inbox/" + id, headers: curlHeaders(nhaisToken(s, to))})
	wantStatus(t, "download", r, 200)
	if string(r.body) != "UNB+UNOA:2+TES5+XX11+020114:1619+00000003'" || r.get("Mex-FileName") != "test-filename.txt" ||
		r.get("Mex-From") != mb || r.get("Mex-MessageType") != "DATA" || r.get("Content-Type") != "application/octet-stream" {
		t.Errorf("download: %q %v", r.body, r.lines)
	}
	r = s.wire(wireReq{method: "PUT", path: "/messageexchange/" + to + "/inbox/" + id + "/status/acknowledged", headers: curlHeaders(nhaisToken(s, to))})
	wantStatus(t, "ack", r, 200)
	if jstr(r.json(t), "messageId") != id {
		t.Errorf("ack body %s", r.body)
	}

	// The script makes one token per run: using it for a second request is
	// what MESH refuses (each header is valid for one request).
	tok := nhaisToken(s, mb)
	wantStatus(t, "first use", s.wire(wireReq{method: "GET", path: "/messageexchange/" + mb + "/inbox", headers: curlHeaders(tok)}), 200)
	r = s.wire(wireReq{method: "GET", path: "/messageexchange/" + mb + "/inbox", headers: curlHeaders(tok)})
	wantStatus(t, "second use of one token", r, 403)
	if jstr(r.json(t), "errorDescription") != "Invalid Authentication Token" || jstr(r.json(t), "errorCode") != "" {
		t.Errorf("replayed token: %s", r.body)
	}
}

// ---------------------------------------------------------------------------
// The MESH API specification's curl examples (mesh-api.yaml).

func TestCompatSpecificationExamples(t *testing.T) {
	s := newSBX(t)
	curl := func(mailbox string, extra ...hdr) []hdr {
		return append([]hdr{{"User-Agent", "curl/8.5.0"}, {"Accept", "*/*"},
			{"Authorization", meshToken(mailbox, uuid4(), "0", s.clock.Now())}}, extra...)
	}
	const bob, alice = "X26ABC1", "X26ABC2" // the examples' X26HC006 (sender) and X26HC005

	// Validate a mailbox: GET with the four mex headers.
	r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + alice, headers: curl(alice,
		hdr{"Mex-ClientVersion", "ApiDocs==0.0.1"}, hdr{"Mex-OSArchitecture", "x86_64"},
		hdr{"Mex-OSName", "Linux"}, hdr{"Mex-OSVersion", "#44~18.04.2-Ubuntu"})})
	wantStatus(t, "handshake", r, 200)

	// Send message (--data, Mex-FileName: None) and the v1 answer.
	r = s.wire(wireReq{method: "POST", path: "/messageexchange/" + bob + "/outbox", body: []byte("This is a message"),
		headers: curl(bob, hdr{"Content-Type", "application/octet-stream"}, hdr{"Mex-From", bob}, hdr{"Mex-To", alice},
			hdr{"Mex-WorkflowID", "API-DOCS-TEST"}, hdr{"Mex-FileName", "None"}, hdr{"Mex-LocalID", "api-docs-bob-greets-alice"})})
	wantStatus(t, "send", r, 202)
	greetID := jstr(r.json(t), "messageID")
	if !realMessageID.MatchString(greetID) {
		t.Fatalf("send: %s", r.body)
	}

	// Send chunked message: 1:2 to the outbox, 2:2 to …/outbox/{id}/2.
	r = s.wire(wireReq{method: "POST", path: "/messageexchange/" + bob + "/outbox", body: []byte("Hi Alice,\n\nThis is Bob. "),
		headers: curl(bob, hdr{"Content-Type", "application/octet-stream"}, hdr{"Mex-From", bob}, hdr{"Mex-To", alice},
			hdr{"Mex-WorkflowID", "API-DOCS-TEST"}, hdr{"Mex-FileName", "message.txt.gz"},
			hdr{"Mex-LocalID", "api-docs-bob-sends-alice-a-chunked-file"}, hdr{"Mex-Chunk-Range", "1:2"})})
	wantStatus(t, "chunk 1", r, 202)
	chunkedID := jstr(r.json(t), "messageID")
	r = s.wire(wireReq{method: "POST", path: "/messageexchange/" + bob + "/outbox/" + chunkedID + "/2", body: []byte("Bye.\n"),
		headers: curl(bob, hdr{"Content-Type", "application/octet-stream"}, hdr{"Mex-Chunk-Range", "2:2"})})
	wantStatus(t, "chunk 2", r, 202)
	if m := r.json(t); jstr(m, "messageID") != chunkedID || m["blockId"] != float64(2) {
		t.Errorf("chunk 2 v1 body %s, want messageID and blockId", r.body)
	}

	// Check an inbox: {"messages": [...]}.
	r = s.wire(wireReq{method: "GET", path: "/messageexchange/" + alice + "/inbox", headers: curl(alice)})
	wantStatus(t, "inbox", r, 200)
	if fmt.Sprint(r.json(t)["messages"]) != "["+greetID+" "+chunkedID+"]" {
		t.Errorf("inbox %s", r.body)
	}

	// Download message chunk (--include): the example answers' headers.
	common := map[string]string{
		"content-type": "application/octet-stream", "mex-workflowid": "API-DOCS-TEST", "mex-content-compressed": "N",
		"mex-addresstype": "ALL", "mex-messagetype": "DATA", "mex-version": "1.0", "mex-to": alice, "mex-from": bob,
		"mex-localid": "api-docs-bob-sends-alice-a-chunked-file", "mex-filename": "message.txt.gz", "mex-messageid": chunkedID,
	}
	first := map[string]string{"mex-chunk-range": "1:2", "mex-statussuccess": "SUCCESS", "mex-statusevent": "TRANSFER",
		"mex-statusdescription": "Transferred to recipient mailbox", "mex-statuscode": "00", "content-length": "24"}
	last := map[string]string{"mex-chunk-range": "2:2", "content-length": "5"}
	for _, tc := range []struct {
		path   string
		status int
		want   map[string]string
		body   string
	}{
		{"/messageexchange/" + alice + "/inbox/" + chunkedID, 206, first, "Hi Alice,\n\nThis is Bob. "},
		{"/messageexchange/" + alice + "/inbox/" + chunkedID + "/2", 200, last, "Bye.\n"},
	} {
		r := s.wire(wireReq{method: "GET", path: tc.path, headers: curl(alice)})
		wantStatus(t, tc.path, r, tc.status)
		for _, want := range []map[string]string{common, tc.want} {
			for k, v := range want {
				if got := r.get(k); got != v {
					t.Errorf("%s: %s = %q, want %q", tc.path, k, got, v)
				}
			}
		}
		if !regexp.MustCompile(`^\d{14}$`).MatchString(r.get("mex-statustimestamp")) || r.get("ETag") == "" {
			t.Errorf("%s: mex-statustimestamp %q etag %q", tc.path, r.get("mex-statustimestamp"), r.get("ETag"))
		}
		if string(r.body) != tc.body {
			t.Errorf("%s: body %q", tc.path, r.body)
		}
	}

	// Track outbox (v1), acknowledge, track again.
	track := func() map[string]any {
		r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + bob + "/outbox/tracking?messageID=" + chunkedID, headers: curl(bob)})
		wantStatus(t, "tracking", r, 200)
		return r.json(t)
	}
	tr := track()
	ts14 := regexp.MustCompile(`^\d{14}$`)
	for k, v := range map[string]string{"status": "Accepted", "messageId": chunkedID, "dtsId": chunkedID, "workflowId": "API-DOCS-TEST",
		"localId": "api-docs-bob-sends-alice-a-chunked-file", "recipient": alice, "sender": bob, "fileName": "message.txt.gz",
		"version": "1.0", "addressType": "ALL", "recipientName": "TESTMB2", "meshRecipientOdsCode": "X26"} {
		if jstr(tr, k) != v {
			t.Errorf("tracking %s = %v, want %q", k, tr[k], v)
		}
	}
	if !ts14.MatchString(jstr(tr, "uploadTimestamp")) || !ts14.MatchString(jstr(tr, "expiryTime")) || tr["fileSize"] != float64(29) {
		t.Errorf("tracking times/size: %v", tr)
	}
	r = s.wire(wireReq{method: "PUT", path: "/messageexchange/" + alice + "/inbox/" + chunkedID + "/status/acknowledged", headers: curl(alice)})
	wantStatus(t, "acknowledge", r, 200)
	if string(r.body) != `{"messageId":"`+chunkedID+`"}` {
		t.Errorf("acknowledge body %s", r.body)
	}
	if tr := track(); jstr(tr, "status") != "Acknowledged" || !ts14.MatchString(jstr(tr, "downloadTimestamp")) {
		t.Errorf("tracking after ack: %v", tr)
	}

	// Look up MESH address: no Authorization in the example.
	for _, path := range []string{"/messageexchange/endpointlookup/X26/TEST_WORKFLOW", "/endpointlookup/mesh/X26/TEST_WORKFLOW"} {
		r = s.wire(wireReq{method: "GET", path: path, headers: []hdr{{"User-Agent", "curl/8.5.0"}, {"Accept", "*/*"}}})
		wantStatus(t, path, r, 200)
		m := r.json(t)
		res, _ := m["results"].([]any)
		if jstr(m, "query_id") == "" || len(res) != 1 {
			t.Fatalf("%s: %s", path, r.body)
		}
		if e := res[0].(map[string]any); jstr(e, "address") != alice || jstr(e, "description") != "TESTMB2" || jstr(e, "endpoint_type") != "MESH" {
			t.Errorf("%s: %s", path, r.body)
		}
	}

	// Check an inbox count (deprecated), v1.
	r = s.wire(wireReq{method: "GET", path: "/messageexchange/" + alice + "/count", headers: curl(alice)})
	if m := r.json(t); r.status != 200 || m["count"] != float64(1) || jstr(m, "internalID") == "" || m["allResultsIncluded"] != true {
		t.Errorf("count: %d %s", r.status, r.body)
	}

	// v2 shapes: inbox links and count, send error envelope.
	v2 := func(mailbox string) []hdr {
		return []hdr{{"User-Agent", "curl/8.5.0"}, {"Accept", "application/vnd.mesh.v2+json"},
			{"Authorization", meshToken(mailbox, uuid4(), "0", s.clock.Now())}}
	}
	r = s.wire(wireReq{method: "GET", path: "/messageexchange/" + alice + "/inbox", headers: v2(alice)})
	if m := r.json(t); r.status != 200 || m["approx_inbox_count"] != float64(1) || r.get("Content-Type") != "application/vnd.mesh.v2+json" {
		t.Errorf("v2 inbox: %d %s %q", r.status, r.body, r.get("Content-Type"))
	} else if links, _ := m["links"].(map[string]any); !strings.HasPrefix(jstr(links, "self"), "/messageexchange/"+alice+"/inbox") || links["next"] != nil {
		t.Errorf("v2 inbox links: %v", links)
	}
	r = s.wire(wireReq{method: "POST", path: "/messageexchange/" + bob + "/outbox", body: []byte("x"),
		headers: append(v2(bob), hdr{"Mex-To", "X26NOPE9"}, hdr{"Mex-WorkflowID", "API-DOCS-TEST"})})
	wantStatus(t, "v2 send to an unknown mailbox", r, 417)
	if d, _ := r.json(t)["detail"].([]any); len(d) != 1 || jstr(d[0].(map[string]any), "code") != "12" || jstr(d[0].(map[string]any), "event") != "SEND" {
		t.Errorf("v2 error: %s", r.body)
	}
}

// ---------------------------------------------------------------------------
// NHS's sandbox admin routes, as NHS's own tests use them
// (mesh-sandbox tests/admin.py; mesh-client tests/mesh_sandbox_tests.py
// resets with DELETE /admin/reset before every test).

func TestCompatSandboxAdminRoutes(t *testing.T) {
	s := newSBX(t)
	v1 := func(mailbox string) []hdr { // TestClient with only Authorization
		return []hdr{{"Authorization", meshToken(mailbox, strings.ReplaceAll(uuid4(), "-", ""), "0", s.clock.Now())}}
	}
	inbox := func(mailbox string) []string {
		r := s.wire(wireReq{method: "GET", path: "/messageexchange/" + mailbox + "/inbox", headers: v1(mailbox)})
		wantStatus(t, "inbox", r, 200)
		var v struct{ Messages []string }
		_ = json.Unmarshal(r.body, &v)
		return v.Messages
	}
	sendTo := func(from, to string) string {
		r := s.wire(wireReq{method: "POST", path: "/messageexchange/" + from + "/outbox", body: []byte("test"),
			headers: append(v1(from), hdr{"Mex-To", to}, hdr{"Mex-WorkflowID", "TEST_WORKFLOW"})})
		wantStatus(t, "send", r, 202)
		return jstr(r.json(t), "messageID")
	}
	del := func(path string) *wireResp { return s.wire(wireReq{method: "DELETE", path: path}) }

	t.Run("reset", func(t *testing.T) {
		for _, tc := range []struct {
			path       string
			status     int
			left1      int // messages left in X26ABC1's inbox
			left2      int
			resetsBoth bool
		}{
			{"/admin/reset", 200, 0, 0, true},
			{"/messageexchange/admin/reset", 200, 0, 0, true},
			{"/messageexchange/admin/reset/X26ABC2", 200, 1, 0, false},
			{"/admin/reset/X26ABC2?clear_disk=tRue", 200, 1, 0, false},
			{"/messageexchange/admin/reset/" + strings.ReplaceAll(uuid4(), "-", ""), 404, 1, 1, false},
		} {
			sendTo("X26ABC1", "X26ABC2")
			sendTo("X26ABC2", "X26ABC1")
			r := del(tc.path)
			if r.status != tc.status {
				t.Errorf("DELETE %s: %d %s", tc.path, r.status, r.body)
			}
			if got1, got2 := len(inbox("X26ABC1")), len(inbox("X26ABC2")); got1 != tc.left1 || got2 != tc.left2 {
				t.Errorf("DELETE %s: inboxes hold %d and %d, want %d and %d", tc.path, got1, got2, tc.left1, tc.left2)
			}
			wantStatus(t, "clean up", del("/admin/reset"), 200)
		}
	})

	// test_put_report_in_inbox: a REPORT's download answer is 200, empty,
	// with the request's code, description, file name, linked id, local id
	// and workflow, mex-to the mailbox it was put in, and ERROR; an ack
	// removes it.
	t.Run("report", func(t *testing.T) {
		req := map[string]any{"mailbox_id": "X26ABC1", "status": "error", "workflow_id": strings.ReplaceAll(uuid4(), "-", ""),
			"code": "21", "description": "my error", "subject": "my subject 1", "local_id": "my local id 1",
			"file_name": "my filename 1", "linked_message_id": strings.ReplaceAll(uuid4(), "-", "")}
		id := injectReport(t, s, req)
		if got := inbox("X26ABC1"); len(got) == 0 || got[0] != id {
			t.Fatalf("inbox %v, want %s first", got, id)
		}
		r := s.wire(wireReq{method: "GET", path: "/messageexchange/X26ABC1/inbox/" + id, headers: v1("X26ABC1")})
		wantStatus(t, "download REPORT", r, 200)
		if len(r.body) != 0 || r.get("Content-Length") != "0" {
			t.Errorf("REPORT body %q, Content-Length %q", r.body, r.get("Content-Length"))
		}
		for name, want := range map[string]string{
			"mex-to": "X26ABC1", "mex-workflowid": req["workflow_id"].(string), "mex-messagetype": "REPORT",
			"mex-statuscode": "21", "mex-statusdescription": "my error", "mex-filename": "my filename 1",
			"mex-linkedmsgid": req["linked_message_id"].(string), "mex-localid": "my local id 1", "mex-statussuccess": "ERROR",
			"mex-subject": "my subject 1", "mex-messageid": id,
		} {
			if got, ok := r.raw(name); !ok || got != want {
				t.Errorf("REPORT header %s = %q (present %v), want %q", name, got, ok, want)
			}
		}
		if _, ok := r.raw("mex-chunk-range"); ok {
			t.Errorf("REPORT carries mex-chunk-range: %v", r.lines)
		}
		r = s.wire(wireReq{method: "PUT", path: "/messageexchange/X26ABC1/inbox/" + id + "/status/acknowledged", headers: v1("X26ABC1")})
		wantStatus(t, "ack REPORT", r, 200)
		if got := inbox("X26ABC1"); len(got) != 0 {
			t.Errorf("inbox after ack %v", got)
		}

		// test_add_message_event: back to accepted, back in the inbox.
		r = s.wire(wireReq{method: "POST", path: "/messageexchange/admin/message/" + id + "/event",
			headers: []hdr{{"Content-Type", "application/json"}}, body: []byte(`{"status":"accepted"}`)})
		wantStatus(t, "add event", r, 200)
		if got := inbox("X26ABC1"); len(got) != 1 || got[0] != id {
			t.Errorf("inbox after the accepted event %v", got)
		}

		// An undeliverable report is a non-delivery report (code 14).
		ndr := injectReport(t, s, map[string]any{"mailbox_id": "X26ABC2", "code": "14", "description": "x",
			"workflow_id": "TEST_WORKFLOW", "subject": "hello", "linked_message_id": "20240101000000000000_ABCDEF"})
		r = s.wire(wireReq{method: "GET", path: "/messageexchange/X26ABC2/inbox/" + ndr, headers: v1("X26ABC2")})
		for name, want := range map[string]string{"mex-statuscode": "14", "mex-statusevent": "SEND", "mex-subject": "NDR: hello",
			"mex-linkedmsgid": "20240101000000000000_ABCDEF", "mex-messagetype": "REPORT", "mex-statussuccess": "ERROR"} {
			if got, _ := r.raw(name); got != want {
				t.Errorf("NDR %s = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("mailbox details", func(t *testing.T) {
		for _, path := range []string{"/admin/mailbox/X26ABC1", "/messageexchange/admin/mailbox/X26ABC1", "/messageexchange/mailbox/X26ABC1"} {
			r := s.wire(wireReq{method: "GET", path: path})
			wantStatus(t, path, r, 200)
			m := r.json(t)
			if len(m) != 7 || m["mailbox_id"] != "X26ABC1" || m["mailbox_name"] != "TESTMB1" || m["billing_entity"] != "England" ||
				m["ods_code"] != "X26" || m["org_code"] != "X26" || m["org_name"] != "" || m["active"] != true {
				t.Errorf("%s: %s", path, r.body)
			}
		}
		wantStatus(t, "unknown mailbox", s.wire(wireReq{method: "GET", path: "/admin/mailbox/NotAMailboxId"}), 404)
	})
}

// ---------------------------------------------------------------------------
// Upload failures a real client meets on the wire.

// curl asks "Expect: 100-continue" before a large upload. An error answer
// must come after "100 Continue" (as from MESH, whose proxies take in the
// body first): curl takes a 417 before it as a refused expectation and sends
// the request again, token and all.
func TestCompatExpectContinue(t *testing.T) {
	s := newSBX(t)
	for _, tc := range []struct {
		name   string
		to     string
		status int
	}{
		{"unknown recipient", "X26NOPE9", 417},
		{"accepted", "X26ABC2", 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			body := bytes.Repeat([]byte("x"), 2<<20)
			q := wireReq{method: "POST", path: "/messageexchange/X26ABC1/outbox", body: body, headers: []hdr{
				{"User-Agent", "curl/7.68.0"}, {"Accept", "*/*"},
				{"Authorization", meshToken("X26ABC1", uuid4(), "0", s.clock.Now())},
				{"Mex-To", tc.to}, {"Mex-WorkflowID", "TEST_WORKFLOW"}, {"Content-Type", "application/octet-stream"},
				{"Expect", "100-continue"},
			}}
			if err := writeWire(conn, s.addr(), q, true); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			interim, err := readWire(br, "POST")
			if err != nil {
				t.Fatal(err)
			}
			if interim.status != 100 {
				t.Fatalf("first answer %d %s, want 100 Continue before anything else", interim.status, interim.body)
			}
			if err := writeWireBody(conn, q); err != nil {
				t.Fatal(err)
			}
			final, err := readWire(br, "POST")
			if err != nil {
				t.Fatal(err)
			}
			if final.status != tc.status {
				t.Fatalf("final answer %d %s, want %d", final.status, final.body, tc.status)
			}
		})
	}
}

// A client that writes its whole body before reading (Python requests,
// .NET HttpClient) must get the error answer, not a reset connection.
func TestCompatErrorAfterLargeBody(t *testing.T) {
	s := newSBX(t, withOpts(func(o *apiOptions) { o.MaxRequestBytes = 3 << 20 }))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	for _, tc := range []struct {
		name    string
		auth    string
		to      string
		status  int
		errCode string
	}{
		{"unknown recipient", meshToken("X26ABC1", uuid4(), "0", s.clock.Now()), "X26NOPE9", 417, "12"},
		{"wrong password", badHMAC(meshToken("X26ABC1", uuid4(), "0", s.clock.Now())), "X26ABC2", 403, ""},
	} {
		body := body[:2<<20] // under the limit
		t.Run(tc.name, func(t *testing.T) {
			r := s.wire(wireReq{method: "POST", path: "/messageexchange/X26ABC1/outbox", body: body, headers: []hdr{
				{"Authorization", tc.auth}, {"Mex-To", tc.to}, {"Mex-WorkflowID", "TEST_WORKFLOW"},
				{"Content-Type", "application/octet-stream"},
			}})
			wantStatus(t, tc.name, r, tc.status)
			if jstr(r.json(t), "errorCode") != tc.errCode {
				t.Errorf("%s: %s", tc.name, r.body)
			}
		})
	}
	// Over the size limit: 413, whether the length is declared or the
	// body is streamed.
	for _, chunked := range []bool{false, true} {
		r := s.wire(wireReq{method: "POST", path: "/messageexchange/X26ABC1/outbox", body: body, chunked: chunked, headers: []hdr{
			{"Authorization", meshToken("X26ABC1", uuid4(), "0", s.clock.Now())}, {"Mex-To", "X26ABC2"},
			{"Mex-WorkflowID", "TEST_WORKFLOW"}, {"Content-Type", "application/octet-stream"},
		}})
		wantStatus(t, fmt.Sprintf("too large (chunked %v)", chunked), r, 413)
	}
	// Over the limit and waiting for 100 Continue: 413 at once, no body asked for.
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	q := wireReq{method: "POST", path: "/messageexchange/X26ABC1/outbox", body: body, headers: []hdr{
		{"Authorization", meshToken("X26ABC1", uuid4(), "0", s.clock.Now())}, {"Mex-To", "X26ABC2"},
		{"Mex-WorkflowID", "TEST_WORKFLOW"}, {"Expect", "100-continue"},
	}}
	if err := writeWire(conn, s.addr(), q, true); err != nil {
		t.Fatal(err)
	}
	if r, err := readWire(bufio.NewReader(conn), "POST"); err != nil || r.status != 413 {
		t.Fatalf("too large with Expect: %v %+v", err, r)
	}
}

// badHMAC replaces a token's digest with a well-formed wrong one.
func badHMAC(token string) string { return token[:len(token)-64] + strings.Repeat("0", 64) }
