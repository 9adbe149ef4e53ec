package sandbox

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

func TestAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   int
		ok     bool
	}{
		{nil, 1, true},
		{[]string{""}, 1, true},
		{[]string{"application/json"}, 1, true},
		{[]string{"*/*"}, 1, true},
		{[]string{"application/vnd.mesh.v1+json"}, 1, true},
		{[]string{"application/vnd.mesh.v2+json"}, 2, true},
		{[]string{"application/vnd.mesh.v3+json"}, 3, true},
		{[]string{"application/vnd.mesh.v2+json; charset=utf-8"}, 2, true},
		{[]string{"application/json; application/vnd.mesh.v2+json"}, 2, true},
		{[]string{"application/vnd.mesh.v2+json, application/json"}, 2, true}, // comma list: more tolerant than NHS's sandbox
		{[]string{"application/json, application/vnd.mesh.v2+json;q=0.9"}, 2, true},
		{[]string{"application/json", "application/vnd.mesh.v2+json"}, 2, true},
		{[]string{"application/vnd.mesh.v2+xml"}, 0, false},
		{[]string{"application/vnd.mesh.vX+json"}, 0, false},
		{[]string{"application/vnd.mesh.v+json"}, 0, false},
		{[]string{"text/vnd.mesh.v2+json"}, 0, false},
		{[]string{"Application/vnd.mesh.v2+json"}, 0, false},
	} {
		got, ok := apiVersion(tc.accept)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("apiVersion(%q) = %d, %v; want %d, %v", tc.accept, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRoutingNotFoundAndMethodNotAllowed(t *testing.T) {
	s := newSBX(t)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 404, `{"detail":"Not Found"}`},
		{"GET", "/nothing", 404, `{"detail":"Not Found"}`},
		{"GET", "/messageexchange//inbox", 404, `{"detail":"Not Found"}`},
		{"GET", "/messageexchange/X26ABC1/inbox/a/b/c/d/e", 404, `{"detail":"Not Found"}`},
		{"GET", "/messageexchange/X26ABC1/outbox", 405, `{"detail":"Method Not Allowed"}`},
		{"DELETE", "/messageexchange/X26ABC1/inbox", 405, `{"detail":"Method Not Allowed"}`},
		{"POST", "/health", 405, `{"detail":"Method Not Allowed"}`},
		{"GET", "/admin/reset", 405, `{"detail":"Method Not Allowed"}`},
		{"GET", "/messageexchange/X26ABC1/outbox/ABC/2", 405, `{"detail":"Method Not Allowed"}`},
	} {
		r := s.do(req{method: tc.method, path: tc.path})
		if r.status != tc.status || string(r.body) != tc.body {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.body)
		}
		if tc.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}

func TestHealth(t *testing.T) {
	s := newSBX(t)
	for _, p := range []string{"/health", "/_status", "/_ping", "/healthcheck", "/messageexchange/_ping", "/messageexchange/deepping"} {
		r := s.do(req{path: p})
		if r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
		m := r.json(t)
		if m["env"] != "meshdoctor-sandbox" || m["status"] != "running" || m["outcome"] != "Yes" || m["build_label"] == "" {
			t.Errorf("%s: %s", p, r.body)
		}
	}
}

func TestHandshake(t *testing.T) {
	s := newSBX(t)
	mex := map[string]string{"Mex-ClientVersion": "meshdoctor==test", "Mex-OSName": "Linux", "Mex-OSVersion": "6.1"}
	for _, method := range []string{"GET", "POST"} {
		r := s.do(req{method: method, path: "/messageexchange/X26ABC1", auth: "X26ABC1", headers: mex})
		if r.status != 200 || string(r.body) != `{"mailboxId":"X26ABC1"}` || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("v1 %s: %d %q %s", method, r.status, r.body, r.header.Get("Content-Type"))
		}
		r = s.do(req{method: method, path: "/messageexchange/X26ABC1", auth: "X26ABC1", v2: true, headers: mex})
		if r.status != 200 || len(r.body) != 0 {
			t.Errorf("v2 %s: %d %q", method, r.status, r.body)
		}
	}
	// The path mailbox is case-insensitive.
	r := s.do(req{path: "/messageexchange/x26abc1", auth: "X26ABC1", headers: mex})
	if r.status != 200 {
		t.Errorf("lower-case path: %d %s", r.status, r.body)
	}
	// Missing mex headers: FastAPI validation body listing each one.
	r = s.do(req{path: "/messageexchange/X26ABC1", auth: "X26ABC1", headers: map[string]string{"Mex-OSName": "Linux"}})
	if r.status != 400 {
		t.Fatalf("missing headers: %d %s", r.status, r.body)
	}
	var body struct {
		Detail []fieldError `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Detail) != 2 ||
		body.Detail[0].Loc[1] != "mex-clientversion" || body.Detail[0].Type != "value_error.missing" || body.Detail[0].Msg != "field required" ||
		body.Detail[1].Loc[1] != "mex-osversion" {
		t.Errorf("missing headers body: %s", r.body)
	}
	// A bad Accept is refused.
	r = s.do(req{path: "/messageexchange/X26ABC1", auth: "X26ABC1", headers: map[string]string{"Accept": "application/vnd.mesh.v2+xml"}})
	wantError(t, r, 400, "", "", "Accept header api format incorrect")
}

func TestAuthFailures(t *testing.T) {
	mex := map[string]string{"Mex-ClientVersion": "x", "Mex-OSName": "Linux", "Mex-OSVersion": "6"}
	creds := func(mb, password, key string) mesh.Credentials {
		return mesh.Credentials{Mailbox: mb, Password: password, SharedKey: key}
	}
	good := creds("X26ABC1", DefaultPassword, DefaultSharedKey)
	for _, tc := range []struct {
		name     string
		path     string
		header   func(now time.Time) string
		opts     func(*apiOptions)
		code     string
		event    string
		desc     string
		firstOK  bool // the same header succeeds once, then fails
		wantPass bool
	}{
		{name: "missing", header: func(time.Time) string { return "" }, desc: "Error reading from Authorization header"},
		{name: "blank", header: func(time.Time) string { return "   " }, desc: "Error reading from Authorization header"},
		{name: "no scheme", header: func(n time.Time) string { return strings.TrimPrefix(mesh.NewToken(good, n), "NHSMESH ") },
			desc: "Error reading from Authorization header"},
		{name: "lower-case scheme", header: func(n time.Time) string { return "nhsmesh " + strings.TrimPrefix(mesh.NewToken(good, n), "NHSMESH ") },
			desc: "Error reading from Authorization header"},
		{name: "four parts", header: func(time.Time) string { return "NHSMESH X26ABC1:nonce:0:202501010000" }, desc: "Error reading from Authorization header"},
		{name: "nonce count not digits", header: func(n time.Time) string {
			return "NHSMESH X26ABC1:n:x:" + n.UTC().Format(mesh.TimestampLayout) + ":" + strings.Repeat("a", 64)
		},
			desc: "Error reading from Authorization header"},
		{name: "lower-case token mailbox", header: func(n time.Time) string { return mesh.NewToken(creds("x26abc1", DefaultPassword, DefaultSharedKey), n) },
			desc: "Error reading from Authorization header"},
		{name: "wrong mailbox", header: func(n time.Time) string { return mesh.NewToken(creds("X26ABC2", DefaultPassword, DefaultSharedKey), n) },
			desc: "Mailbox id does not match token"},
		{name: "unknown mailbox", path: "/messageexchange/NOSUCHMB",
			header: func(n time.Time) string {
				return mesh.NewToken(creds("NOSUCHMB", DefaultPassword, DefaultSharedKey), n)
			},
			event: "SEND", code: "EPL-151", desc: "No mailbox matched"},
		{name: "bad password", header: func(n time.Time) string { return mesh.NewToken(creds("X26ABC1", "wrong", DefaultSharedKey), n) },
			desc: "Invalid Authentication Token"},
		{name: "bad shared key", header: func(n time.Time) string { return mesh.NewToken(creds("X26ABC1", DefaultPassword, "Banana"), n) },
			desc: "Invalid Authentication Token"},
		{name: "stale, behind", header: func(n time.Time) string { return mesh.NewToken(good, n.Add(-2*time.Hour-2*time.Minute)) },
			desc: "Invalid Authentication Token"},
		{name: "stale, ahead", header: func(n time.Time) string { return mesh.NewToken(good, n.Add(2*time.Hour+2*time.Minute)) },
			desc: "Invalid Authentication Token"},
		{name: "inside the window", header: func(n time.Time) string { return mesh.NewToken(good, n.Add(-119*time.Minute)) }, wantPass: true},
		{name: "stale allowed when the window is off", header: func(n time.Time) string { return mesh.NewToken(good, n.Add(-30*time.Hour)) },
			opts: func(o *apiOptions) { o.TokenWindow = 0 }, wantPass: true},
		{name: "upper-case hmac", header: func(n time.Time) string {
			tok := mesh.NewToken(good, n)
			i := strings.LastIndexByte(tok, ':')
			return tok[:i] + strings.ToUpper(tok[i:])
		}, wantPass: true},
		{name: "reused", header: func(n time.Time) string { return mesh.BuildToken(good, "fixed-nonce", 7, n) }, firstOK: true,
			desc: "Invalid Authentication Token"},
		{name: "reject-token fault", header: func(n time.Time) string { return mesh.NewToken(good, n) },
			opts: func(o *apiOptions) { o.RejectAllTokens = true }, desc: "Invalid Authentication Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var options []sbxOption
			if tc.opts != nil {
				options = append(options, withOpts(tc.opts))
			}
			s := newSBX(t, options...)
			path := tc.path
			if path == "" {
				path = "/messageexchange/X26ABC1"
			}
			h := map[string]string{"Authorization": tc.header(s.clock.Now())}
			for k, v := range mex {
				h[k] = v
			}
			if h["Authorization"] == "" {
				delete(h, "Authorization")
			}
			r := s.do(req{path: path, headers: h})
			if tc.firstOK {
				if r.status != 200 {
					t.Fatalf("first use: %d %s", r.status, r.body)
				}
				r = s.do(req{path: path, headers: h})
			}
			if tc.wantPass {
				if r.status != 200 {
					t.Fatalf("%d %s, want 200", r.status, r.body)
				}
				return
			}
			wantError(t, r, 403, tc.event, tc.code, tc.desc)
		})
	}
	t.Run("v2 body", func(t *testing.T) {
		s := newSBX(t)
		r := s.do(req{path: "/messageexchange/X26ABC1", v2: true, headers: mex})
		if r.status != 403 || string(r.body) != `{"detail":[{"event":"","code":"","msg":"Error reading from Authorization header"}]}` ||
			r.header.Get("Content-Type") != mesh.AcceptV2 {
			t.Fatalf("%d %s %s", r.status, r.body, r.header.Get("Content-Type"))
		}
		r = s.do(req{path: "/messageexchange/X26ABC1", headers: mex})
		if string(r.body) != `{"errorEvent":"","errorCode":"","errorDescription":"Error reading from Authorization header"}` {
			t.Fatalf("v1: %s", r.body)
		}
	})
	t.Run("every mailbox route is authenticated", func(t *testing.T) {
		s := newSBX(t)
		for _, rt := range []struct{ method, path string }{
			{"POST", "/messageexchange/X26ABC1/update"}, {"GET", "/messageexchange/X26ABC1/count"},
			{"GET", "/messageexchange/X26ABC1/inbox"}, {"GET", "/messageexchange/X26ABC1/inbox/rich"},
			{"GET", "/messageexchange/X26ABC1/inbox/ID"}, {"HEAD", "/messageexchange/X26ABC1/inbox/ID"},
			{"GET", "/messageexchange/X26ABC1/inbox/ID/2"}, {"PUT", "/messageexchange/X26ABC1/inbox/ID/status/acknowledged"},
			{"POST", "/messageexchange/X26ABC1/outbox"}, {"GET", "/messageexchange/X26ABC1/outbox/rich"},
			{"GET", "/messageexchange/X26ABC1/outbox/tracking?messageID=X"}, {"GET", "/messageexchange/X26ABC1/outbox/tracking/LOCAL"},
			{"POST", "/messageexchange/X26ABC1/outbox/ID/2"},
		} {
			r := s.do(req{method: rt.method, path: rt.path})
			if r.status != 403 {
				t.Errorf("%s %s without a token: %d", rt.method, rt.path, r.status)
			}
		}
	})
}

func TestReplayKeyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	a := newAuthenticator(apiOptions{SharedKey: "TestKey"}, nil)
	st := a.states.Get().(*authState)
	tok, _ := mesh.ParseToken(mesh.NewToken(mesh.Credentials{Mailbox: "X26ABC1", Password: "password", SharedKey: "TestKey"}, time.Now()))
	if allocs := testing.AllocsPerRun(100, func() { st.replayKey(&tok) }); allocs != 0 {
		t.Errorf("replayKey allocates %v times", allocs)
	}
}

func TestReplayCacheForgets(t *testing.T) {
	c := replayCache{seen: map[[2]uint64]struct{}{}, keep: int64(time.Hour), limit: 3}
	k := func(i uint64) [2]uint64 { return [2]uint64{i, i} }
	if !c.add(k(1), 0) || c.add(k(1), 1) {
		t.Fatal("a key is remembered")
	}
	c.add(k(2), 2)
	c.add(k(3), 3)
	c.add(k(4), 4) // over the limit: 1 is forgotten
	if c.size() != 3 || !c.add(k(1), 5) {
		t.Fatalf("limit not applied: %d", c.size())
	}
	// Everything older than an hour is forgotten.
	later := int64(2 * time.Hour)
	if !c.add(k(9), later) || c.size() != 1 {
		t.Fatalf("old keys kept: %d", c.size())
	}
	// Compaction keeps the queue bounded.
	for i := uint64(100); i < 20000; i++ {
		c.add(k(i), later+int64(i))
	}
	if len(c.queue) > 8192 {
		t.Fatalf("queue grows: %d", len(c.queue))
	}
}

var idPattern = regexp.MustCompile(`^\d{20}_[0-9A-F]{6}$`)

func TestSendValidation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    []byte
		chunked bool
		status  int
		event   string
		code    string
		desc    string
		loc     string // validation error location
	}{
		{name: "no mex-To", headers: map[string]string{"Mex-To": "-", "Mex-WorkflowID": "WF"}, status: 400, loc: "mex-to"},
		{name: "no workflow", headers: map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "-"}, status: 400, loc: "mex-workflowid"},
		{name: "mex-To too long", headers: map[string]string{"Mex-To": long(101)}, status: 400, loc: "mex-to"},
		{name: "workflow too long", headers: map[string]string{"Mex-WorkflowID": long(301)}, status: 400, loc: "mex-workflowid"},
		{name: "subject too long", headers: map[string]string{"Mex-Subject": long(501)}, status: 400, loc: "mex-subject"},
		{name: "local id too long", headers: map[string]string{"Mex-LocalID": long(301)}, status: 400, loc: "mex-localid"},
		{name: "checksum too long", headers: map[string]string{"Mex-Content-Checksum": long(101)}, status: 400, loc: "mex-content-checksum"},
		{name: "chunk range too long", headers: map[string]string{"Mex-Chunk-Range": "1:" + strings.Repeat("1", 19)}, status: 400, loc: "mex-chunk-range"},
		{name: "tab in subject", headers: map[string]string{"Mex-Subject": "a\tb"}, status: 400, event: "TRANSFER", code: "06", desc: "MalformedControlFile"},
		{name: "URL as recipient", headers: map[string]string{"Mex-To": "https://evil.example"}, status: 400, event: "TRANSFER", code: "06"},
		{name: "URL as workflow", headers: map[string]string{"Mex-WorkflowID": "http://x"}, status: 400, event: "TRANSFER", code: "06"},
		{name: "bad checksum", headers: map[string]string{"Mex-Content-Checksum": "md5=abc"}, status: 400, event: "SEND", code: "Invalid checksum"},
		{name: "empty mex-To", headers: map[string]string{"Mex-To": " "}, status: 400, event: "SEND", code: "08", desc: "TO_DTS missing"},
		{name: "deflate", headers: map[string]string{"Content-Encoding": "deflate"}, status: 422, event: "SEND", code: "UnsupportedContentEncoding"},
		{name: "chunk range 2:3", headers: map[string]string{"Mex-Chunk-Range": "2:3"}, status: 417, event: "SEND", code: "InvalidHeaderChunks"},
		{name: "chunk range a:b", headers: map[string]string{"Mex-Chunk-Range": "a:b"}, status: 417, event: "SEND", code: "InvalidHeaderChunks"},
		{name: "chunk range 0:1", headers: map[string]string{"Mex-Chunk-Range": "0:1"}, status: 417, event: "SEND", code: "InvalidHeaderChunks"},
		{name: "chunk range 1", headers: map[string]string{"Mex-Chunk-Range": "1"}, status: 417, event: "SEND", code: "InvalidHeaderChunks"},
		{name: "mex-From not the sender", headers: map[string]string{"Mex-From": "X26ABC3"}, status: 417, event: "SEND", code: "07"},
		{name: "unknown recipient", headers: map[string]string{"Mex-To": "NOBODY"}, status: 417, event: "SEND", code: "12", desc: "Unregistered to address"},
		{name: "empty body", body: []byte{}, status: 417, event: "COLLECT", code: "02"},
		{name: "empty chunked body", body: []byte{}, chunked: true, status: 417, event: "COLLECT", code: "02"},
		{name: "too large", body: bytes.Repeat([]byte("x"), 2001), status: 413, event: "SEND", desc: "larger than the limit of 2000 bytes"},
		{name: "too large, chunked", body: bytes.Repeat([]byte("x"), 5000), chunked: true, status: 413, event: "SEND", desc: "larger than the limit"},
		{name: "mex-From is the sender", headers: map[string]string{"Mex-From": "x26abc1"}, status: 202},
		{name: "lower-case recipient", headers: map[string]string{"Mex-To": "x26abc2"}, status: 202},
		{name: "checksum with allowed characters", headers: map[string]string{"Mex-Content-Checksum": "sha256:AB-cd/01 x"}, status: 202},
		{name: "workflow with space and local id with #", headers: map[string]string{"Mex-WorkflowID": "A WF", "Mex-LocalID": "a#b"}, status: 202},
		{name: "any flag value", headers: map[string]string{"Mex-Content-Compressed": "banana", "Mex-Content-Encrypted": "Y"}, status: 202},
		{name: "exactly the limit", body: bytes.Repeat([]byte("x"), 2000), status: 202},
		{name: "gzip", headers: map[string]string{"Content-Encoding": "GZIP"}, status: 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSBX(t, withOpts(func(o *apiOptions) { o.MaxRequestBytes = 2000 }))
			h := map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "TEST_WORKFLOW"}
			for k, v := range tc.headers {
				h[k] = v
			}
			for k, v := range h {
				if v == "-" {
					delete(h, k)
				}
			}
			body := tc.body
			if body == nil {
				body = []byte("hello")
			}
			for _, v2 := range []bool{false, true} {
				r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox", auth: "X26ABC1", v2: v2, headers: h, body: body, chunked: tc.chunked})
				switch {
				case tc.status == 202:
					if r.status != 202 {
						t.Fatalf("%d %s", r.status, r.body)
					}
					key := "messageID"
					if v2 {
						key = "message_id"
					}
					if id, _ := r.json(t)[key].(string); !idPattern.MatchString(id) {
						t.Fatalf("v2=%v: id %q in %s", v2, id, r.body)
					}
				case tc.loc != "":
					if r.status != 400 || !strings.Contains(string(r.body), `"loc":["header","`+tc.loc+`"]`) {
						t.Fatalf("%d %s, want 400 at %s", r.status, r.body, tc.loc)
					}
				default:
					wantError(t, r, tc.status, tc.event, tc.code, tc.desc)
					if v2 && r.header.Get("Content-Type") != mesh.AcceptV2 {
						t.Fatalf("v2 error content type %q", r.header.Get("Content-Type"))
					}
				}
			}
			if tc.status != 202 && len(s.inboxV1("X26ABC2")) != 0 {
				t.Fatal("a refused message was delivered")
			}
		})
	}
	t.Run("fields of a malformed control file", func(t *testing.T) {
		s := newSBX(t)
		r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox", auth: "X26ABC1", body: []byte("x"),
			headers: map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "http://a", "Mex-Subject": "a\tb"}})
		m := r.json(t)
		if r.status != 400 || m["errorCode"] != "06" || !strings.Contains(string(r.body), `"fields":["mex_subject","mex-WorkflowID"]`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestSendReceiveAcknowledge(t *testing.T) {
	for _, store := range storeKinds {
		for _, v2 := range []bool{false, true} {
			t.Run(store+map[bool]string{false: " v1", true: " v2"}[v2], func(t *testing.T) {
				s := newSBXFor(t, store)
				payload := []byte("hello, MESH")
				r := s.do(req{method: "POST", path: "/messageexchange/x26abc1/outbox", auth: "X26ABC1", v2: v2, body: payload,
					headers: map[string]string{
						"Mex-To": "X26ABC2", "Mex-WorkflowID": "TEST_WORKFLOW", "Mex-Subject": "greeting", "Mex-LocalID": "local-1",
						"Mex-FileName": "hello.txt", "Mex-Content-Checksum": "md5:abc", "Mex-PartnerID": "partner",
						"Mex-Content-Type": "text/plain", "Mex-Content-Encrypted": "Y", "Content-Type": "text/plain",
					}})
				if r.status != 202 {
					t.Fatalf("send: %d %s", r.status, r.body)
				}
				wantCT := "application/json"
				idKey := "messageID"
				if v2 {
					wantCT, idKey = mesh.AcceptV2, "message_id"
				}
				if r.header.Get("Content-Type") != wantCT {
					t.Errorf("send content type %q", r.header.Get("Content-Type"))
				}
				id := r.json(t)[idKey].(string)

				if got := s.inboxV1("X26ABC2"); len(got) != 1 || got[0] != id {
					t.Fatalf("inbox %v, want [%s]", got, id)
				}
				// Only the recipient may download; a lower-case id works.
				wantError(t, s.do(req{path: "/messageexchange/X26ABC3/inbox/" + id, auth: "X26ABC3", v2: v2}), 403, "RECEIVE", "20", "")
				wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/NOPE", auth: "X26ABC2", v2: v2}), 404, "RECEIVE", "20", "Message does not exist")

				r = s.do(req{path: "/messageexchange/X26ABC2/inbox/" + strings.ToLower(id), auth: "X26ABC2", v2: v2})
				if r.status != 200 || !bytes.Equal(r.body, payload) {
					t.Fatalf("download: %d %q", r.status, r.body)
				}
				want := map[string]string{
					"Mex-From": "X26ABC1", "Mex-To": "X26ABC2", "Mex-WorkflowID": "TEST_WORKFLOW", "Mex-Chunk-Range": "1:1",
					"Mex-Total-Chunks": "1", "Mex-AddressType": "ALL", "Mex-LocalID": "local-1", "Mex-PartnerID": "partner",
					"Mex-FileName": "hello.txt", "Mex-Subject": "greeting", "Mex-Version": "1.0", "Mex-MessageType": "DATA",
					"Mex-MessageID": id, "Mex-Content-Compressed": "N", "Mex-Content-Encrypted": "Y",
					"Mex-Content-Checksum": "md5:abc", "Mex-Content-Type": "text/plain", "Mex-StatusCode": "00",
					"Mex-StatusEvent": "TRANSFER", "Mex-StatusSuccess": "SUCCESS", "Mex-StatusDescription": "Transferred to recipient mailbox",
					"Content-Length": "11", "ETag": `"` + id + `.1"`,
				}
				if v2 {
					want["Content-Type"] = "text/plain"
				} else {
					want["Content-Type"] = "application/octet-stream"
				}
				for k, v := range want {
					if got := r.header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				if ts := r.header.Get("Mex-StatusTimestamp"); len(ts) != 14 {
					t.Errorf("Mex-StatusTimestamp %q", ts)
				}
				if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
					t.Errorf("Last-Modified: %v", err)
				}
				if r.header.Get("Content-Encoding") != "" {
					t.Errorf("Content-Encoding %q", r.header.Get("Content-Encoding"))
				}
				// HEAD: the same headers, no body.
				r = s.do(req{method: "HEAD", path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2", v2: v2})
				if r.status != 200 || len(r.body) != 0 || r.header.Get("Mex-MessageID") != id || r.header.Get("Mex-Chunk-Range") != "1:1" {
					t.Fatalf("HEAD: %d %v", r.status, r.header)
				}
				// The sender may HEAD its own message; a third mailbox is told it does not exist.
				if r := s.do(req{method: "HEAD", path: "/messageexchange/X26ABC1/inbox/" + id, auth: "X26ABC1"}); r.status != 200 {
					t.Errorf("sender HEAD: %d", r.status)
				}
				if r := s.do(req{method: "HEAD", path: "/messageexchange/X26ABC3/inbox/" + id, auth: "X26ABC3"}); r.status != 404 {
					t.Errorf("third mailbox HEAD: %d", r.status)
				}
				// Chunk 1 by number; no chunk 2.
				if r := s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id + "/1", auth: "X26ABC2"}); r.status != 200 || !bytes.Equal(r.body, payload) {
					t.Errorf("chunk 1: %d", r.status)
				}
				wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id + "/2", auth: "X26ABC2"}), 404, "RECEIVE", "20", "")
				wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id + "/0", auth: "X26ABC2"}), 404, "RECEIVE", "20", "")
				if r := s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id + "/x", auth: "X26ABC2"}); r.status != 400 {
					t.Errorf("chunk x: %d", r.status)
				}

				tr := s.trackV2(t, "X26ABC1", id)
				if tr.Status != "accepted" || tr.StatusSuccess == nil || !*tr.StatusSuccess || tr.LocalID != "local-1" || tr.Recipient != "X26ABC2" {
					t.Errorf("tracking before ack: %+v", tr)
				}

				// Acknowledge: only the recipient; then it is gone.
				wantError(t, s.do(req{method: "PUT", path: "/messageexchange/X26ABC3/inbox/" + id + "/status/acknowledged", auth: "X26ABC3"}), 403, "RECEIVE", "20", "")
				wantError(t, s.do(req{method: "PUT", path: "/messageexchange/X26ABC2/inbox/NOPE/status/acknowledged", auth: "X26ABC2"}), 404, "RECEIVE", "20", "")
				for i := 0; i < 2; i++ { // idempotent
					r = s.do(req{method: "PUT", path: "/messageexchange/X26ABC2/inbox/" + id + "/status/acknowledged", auth: "X26ABC2", v2: v2})
					if r.status != 200 {
						t.Fatalf("ack: %d %s", r.status, r.body)
					}
					if v2 && len(r.body) != 0 || !v2 && string(r.body) != `{"messageId":"`+id+`"}` {
						t.Fatalf("ack body %q", r.body)
					}
				}
				if got := s.inboxV1("X26ABC2"); len(got) != 0 {
					t.Fatalf("inbox after ack: %v", got)
				}
				wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2", v2: v2}), 410, "SEND", "Message already accepted", "no longer available")
				wantError(t, s.do(req{method: "HEAD", path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2"}), 410, "", "", "")
				tr = s.trackV2(t, "X26ABC1", id)
				if tr.Status != "acknowledged" {
					t.Errorf("tracking after ack: %+v", tr)
				}
				if store == "file" {
					if chunks, _ := filepathGlob(s.dir, id, "*.chunk"); len(chunks) != 0 {
						t.Errorf("chunk files left after ack: %v", chunks)
					}
				}
			})
		}
	}
}

func (s *sbx) trackV2(t *testing.T, mb, id string) mesh.TrackingV2 {
	t.Helper()
	r := s.do(req{path: "/messageexchange/" + mb + "/outbox/tracking?messageID=" + url.QueryEscape(id), auth: mb, v2: true})
	if r.status != 200 {
		t.Fatalf("tracking: %d %s", r.status, r.body)
	}
	var tr mesh.TrackingV2
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (s *sbx) trackV1(t *testing.T, mb, id string) mesh.TrackingV1 {
	t.Helper()
	r := s.do(req{path: "/messageexchange/" + mb + "/outbox/tracking?messageID=" + url.QueryEscape(id), auth: mb})
	if r.status != 200 {
		t.Fatalf("tracking: %d %s", r.status, r.body)
	}
	var tr mesh.TrackingV1
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestChunkedUpload(t *testing.T) {
	for _, store := range storeKinds {
		t.Run(store, func(t *testing.T) {
			s := newSBXFor(t, store)
			chunks := [][]byte{[]byte("first chunk,"), []byte("second chunk,"), []byte("third")}
			h := map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "TEST_WORKFLOW", "Mex-Chunk-Range": "1:3"}
			r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox", auth: "X26ABC1", headers: h, body: chunks[0]})
			if r.status != 202 {
				t.Fatalf("chunk 1: %d %s", r.status, r.body)
			}
			id := r.json(t)["messageID"].(string)
			chunk := func(k int, rng string, body []byte, mb string, extra map[string]string) *resp {
				h := map[string]string{}
				if rng != "" {
					h["Mex-Chunk-Range"] = rng
				}
				for k, v := range extra {
					h[k] = v
				}
				return s.do(req{method: "POST", path: "/messageexchange/" + mb + "/outbox/" + id + "/" + itoa(k), auth: mb, headers: h, body: body})
			}
			if tr := s.trackV1(t, "X26ABC1", id); tr.Status != "Uploading" {
				t.Fatalf("tracking while uploading: %q", tr.Status)
			}
			if got := s.inboxV1("X26ABC2"); len(got) != 0 {
				t.Fatalf("uploading message listed: %v", got)
			}
			wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2"}), 410, "SEND", "Message already accepted", "")
			wantError(t, s.do(req{method: "HEAD", path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2"}), 410, "", "", "")

			// Header problems: 417 with the message id.
			for _, rng := range []string{"", "3:3", "2", "x:3", "2:1"} {
				r := chunk(2, rng, chunks[1], "X26ABC1", nil)
				wantError(t, r, 417, "SEND", "InvalidHeaderChunks", "")
				if r.json(t)["messageID"] != id {
					t.Errorf("range %q: no messageID in %s", rng, r.body)
				}
			}
			wantError(t, chunk(2, "2:5", chunks[1], "X26ABC1", nil), 417, "SEND", "InvalidHeaderChunks", "")
			// Out of order: chunk 3 before chunk 2.
			wantError(t, chunk(3, "3:3", chunks[2], "X26ABC1", nil), 417, "SEND", "InvalidHeaderChunks", "chunk 3 arrived before chunk 2")
			// Beyond the total.
			r = chunk(4, "4:4", chunks[2], "X26ABC1", nil)
			if r.status != 406 {
				t.Fatalf("chunk 4 of 3: %d %s", r.status, r.body)
			}
			// Not the sender, unknown message, empty chunk, encoding change.
			wantError(t, chunk(2, "2:3", chunks[1], "X26ABC2", nil), 403, "SEND", "20", "")
			r = s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox/NOSUCH/2", auth: "X26ABC1", headers: map[string]string{"Mex-Chunk-Range": "2:3"}, body: []byte("x")})
			wantError(t, r, 404, "SEND", "20", "")
			wantError(t, chunk(2, "2:3", []byte{}, "X26ABC1", nil), 417, "COLLECT", "02", "")
			wantError(t, chunk(2, "2:3", chunks[1], "X26ABC1", map[string]string{"Content-Encoding": "gzip"}), 417, "SEND", "", "cannot change content encoding")

			// Chunk 2, then a retry of chunk 2 that replaces it.
			if r := chunk(2, "2:3", []byte("WRONG"), "X26ABC1", nil); r.status != 202 || string(r.body) != `{"messageID":"`+id+`","blockId":2}` {
				t.Fatalf("chunk 2: %d %s", r.status, r.body)
			}
			r = s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox/" + id + "/2", auth: "X26ABC1", v2: true,
				headers: map[string]string{"Mex-Chunk-Range": "2:3"}, body: chunks[1]})
			if r.status != 202 || string(r.body) != "null" { // as NHS's sandbox: see sendChunk
				t.Fatalf("chunk 2 again (v2): %d %q", r.status, r.body)
			}
			if got := s.inboxV1("X26ABC2"); len(got) != 0 {
				t.Fatalf("listed before the last chunk: %v", got)
			}
			if r := chunk(3, "3:3", chunks[2], "X26ABC1", nil); r.status != 202 {
				t.Fatalf("chunk 3: %d %s", r.status, r.body)
			}
			// Complete: further chunks are refused with 423.
			wantError(t, chunk(3, "3:3", chunks[2], "X26ABC1", nil), 423, "SEND", "", "finalised")
			if got := s.inboxV1("X26ABC2"); len(got) != 1 || got[0] != id {
				t.Fatalf("inbox %v", got)
			}
			if tr := s.trackV1(t, "X26ABC1", id); tr.Status != "Accepted" || tr.ChunkCount != 3 || tr.FileSize != int64(len(chunks[0])+len(chunks[1])+len(chunks[2])) {
				t.Fatalf("tracking: %+v", tr)
			}
			// Download: 206, 206, 200.
			var all []byte
			for k := 1; k <= 3; k++ {
				path := "/messageexchange/X26ABC2/inbox/" + id
				if k > 1 {
					path += "/" + itoa(k)
				}
				r := s.do(req{path: path, auth: "X26ABC2"})
				want := 206
				if k == 3 {
					want = 200
				}
				if r.status != want || r.header.Get("Mex-Chunk-Range") != itoa(k)+":3" || r.header.Get("Mex-Total-Chunks") != "3" {
					t.Fatalf("chunk %d: %d %s", k, r.status, r.header.Get("Mex-Chunk-Range"))
				}
				all = append(all, r.body...)
			}
			if string(all) != "first chunk,second chunk,third" {
				t.Fatalf("reassembled %q", all)
			}
			wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id + "/4", auth: "X26ABC2"}), 404, "RECEIVE", "20", "")
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipNegotiation(t *testing.T) {
	for _, store := range storeKinds {
		t.Run(store, func(t *testing.T) {
			s := newSBXFor(t, store)
			plain := bytes.Repeat([]byte("compress me please "), 2000)
			packed := gzipBytes(t, plain)
			gzID := s.send("X26ABC1", "X26ABC2", "WF", packed, map[string]string{"Content-Encoding": "gzip"})
			plainID := s.send("X26ABC1", "X26ABC2", "WF", plain, nil)
			for _, tc := range []struct {
				name, id, acceptEncoding string
				wantEncoding             string
				wantBody                 []byte
			}{
				{"gzip to a gzip client", gzID, "gzip, deflate", "gzip", packed},
				{"gzip to x-gzip", gzID, "x-gzip", "gzip", packed},
				{"gzip inflated for a plain client", gzID, "", "", plain},
				{"gzip inflated when q=0", gzID, "gzip;q=0, identity", "", plain},
				{"plain stays plain", plainID, "gzip", "", plain},
			} {
				for _, v2 := range []bool{false, true} {
					h := map[string]string{}
					if tc.acceptEncoding != "" {
						h["Accept-Encoding"] = tc.acceptEncoding
					}
					r := s.do(req{path: "/messageexchange/X26ABC2/inbox/" + tc.id, auth: "X26ABC2", v2: v2, headers: h})
					if r.status != 200 || r.header.Get("Content-Encoding") != tc.wantEncoding || !bytes.Equal(r.body, tc.wantBody) {
						t.Errorf("%s (v2=%v): %d encoding %q, %d bytes", tc.name, v2, r.status, r.header.Get("Content-Encoding"), len(r.body))
					}
					// Y when the body goes out gzip-encoded, as NHS's sandbox
					// (see setMessageHeaders).
					wantFlag := "N"
					if tc.wantEncoding == "gzip" {
						wantFlag = "Y"
					}
					if r.header.Get("Mex-Content-Compressed") != wantFlag {
						t.Errorf("%s: Mex-Content-Compressed %q", tc.name, r.header.Get("Mex-Content-Compressed"))
					}
				}
			}
			// A body that claims gzip but is not is served as stored.
			badID := s.send("X26ABC1", "X26ABC2", "WF", []byte("not gzip at all"), map[string]string{"Content-Encoding": "gzip"})
			r := s.do(req{path: "/messageexchange/X26ABC2/inbox/" + badID, auth: "X26ABC2"})
			if r.status != 200 || string(r.body) != "not gzip at all" || r.header.Get("Content-Encoding") != "gzip" {
				t.Errorf("bad gzip: %d %q %q", r.status, r.body, r.header.Get("Content-Encoding"))
			}
		})
	}
}

func TestInboxPagination(t *testing.T) {
	s := newSBX(t)
	var ids []string
	for i := 0; i < 35; i++ {
		wf := "WF_A"
		if i%3 == 0 {
			wf = "OTHER_B"
		}
		ids = append(ids, s.send("X26ABC1", "X26ABC2", wf, []byte("m"), nil))
	}
	t.Run("v1", func(t *testing.T) {
		var got []string
		cont := ""
		for page := 0; page < 10; page++ {
			path := "/messageexchange/X26ABC2/inbox?max_results=10"
			if cont != "" {
				path += "&continue_from=" + cont
			}
			r := s.do(req{path: path, auth: "X26ABC2"})
			var body struct{ Messages []string }
			if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
				t.Fatalf("page %d: %d %s", page, r.status, r.body)
			}
			if strings.Contains(string(r.body), "links") {
				t.Fatalf("v1 body has links: %s", r.body)
			}
			got = append(got, body.Messages...)
			if len(body.Messages) < 10 {
				break
			}
			cont = body.Messages[len(body.Messages)-1]
		}
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("v1 pages %v\nwant %v", got, ids)
		}
	})
	followV2 := func(t *testing.T, first string, ackBetween bool) []string {
		var got []string
		next := first
		for page := 0; next != ""; page++ {
			if page > 10 {
				t.Fatal("too many pages")
			}
			r := s.do(req{path: next, auth: "X26ABC2", v2: true})
			var body mesh.InboxV2
			if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
				t.Fatalf("page %d: %d %s", page, r.status, r.body)
			}
			if !strings.HasPrefix(body.Links.Self, "/messageexchange/X26ABC2/inbox?") {
				t.Fatalf("self %q", body.Links.Self)
			}
			got = append(got, body.Messages...)
			next = body.Links.Next
			if next != "" {
				u, err := url.Parse(next)
				if err != nil || u.Path != "/messageexchange/X26ABC2/inbox" || len(u.Query().Get("continue_from")) < 24 || u.Query().Get("max_results") == "" {
					t.Fatalf("next %q", next)
				}
			}
			if ackBetween {
				for _, id := range body.Messages {
					s.ack("X26ABC2", id)
				}
			}
		}
		return got
	}
	t.Run("v2", func(t *testing.T) {
		got := followV2(t, "/messageexchange/X26ABC2/inbox?max_results=10", false)
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("v2 pages %v", got)
		}
		r := s.do(req{path: "/messageexchange/X26ABC2/inbox?max_results=10", auth: "X26ABC2", v2: true})
		if m := r.json(t); m["approx_inbox_count"] != float64(35) {
			t.Fatalf("approx_inbox_count: %s", r.body)
		}
		// The last page has no next link.
		r = s.do(req{path: "/messageexchange/X26ABC2/inbox", auth: "X26ABC2", v2: true})
		if strings.Contains(string(r.body), `"next"`) || r.header.Get("Content-Type") != mesh.AcceptV2 {
			t.Fatalf("one page: %s", r.body)
		}
	})
	t.Run("workflow filters", func(t *testing.T) {
		want := func(pred func(wf string) bool) []string {
			var out []string
			for i, id := range ids {
				wf := "WF_A"
				if i%3 == 0 {
					wf = "OTHER_B"
				}
				if pred(wf) {
					out = append(out, id)
				}
			}
			return out
		}
		for _, tc := range []struct {
			filter string
			pred   func(string) bool
		}{
			{"WF_A", func(wf string) bool { return wf == "WF_A" }},
			{"!WF_A", func(wf string) bool { return wf != "WF_A" }},
			{"OTH*", func(wf string) bool { return strings.HasPrefix(wf, "OTH") }},
			{"!OTH*", func(wf string) bool { return !strings.HasPrefix(wf, "OTH") }},
			{"*_B*", func(wf string) bool { return strings.Contains(wf, "_B") }},
			{"!*_B*", func(wf string) bool { return !strings.Contains(wf, "_B") }},
			{"NOTHING", func(string) bool { return false }},
		} {
			got := followV2(t, "/messageexchange/X26ABC2/inbox?max_results=10&workflow_filter="+url.QueryEscape(tc.filter), false)
			if w := want(tc.pred); strings.Join(got, ",") != strings.Join(w, ",") {
				t.Errorf("filter %q: %d ids, want %d", tc.filter, len(got), len(w))
			}
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"max_results=9", "max_results=5001", "max_results=ten", "max_results=",
			"continue_from=short", "continue_from=" + strings.Repeat("a", 1001), "workflow_filter=A",
			"workflow_filter=" + strings.Repeat("a", 256)} {
			if r := s.do(req{path: "/messageexchange/X26ABC2/inbox?" + q, auth: "X26ABC2", v2: true}); r.status != 400 || !strings.Contains(string(r.body), `"loc":["query"`) {
				t.Errorf("%s: %d %s", q, r.status, r.body)
			}
		}
		r := s.do(req{path: "/messageexchange/X26ABC2/inbox?continue_from=" + strings.Repeat("Z", 30), auth: "X26ABC2", v2: true})
		wantError(t, r, 400, "", "", "continue_from")
	})
	t.Run("stable while acknowledging", func(t *testing.T) {
		got := followV2(t, "/messageexchange/X26ABC2/inbox?max_results=10", true)
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("pages while acknowledging: %d ids, want %d", len(got), len(ids))
		}
		if left := s.inboxV1("X26ABC2"); len(left) != 0 {
			t.Fatalf("left: %v", left)
		}
	})
}

func TestCount(t *testing.T) {
	s := newSBX(t)
	s.send("X26ABC1", "X26ABC2", "WF", []byte("a"), nil)
	s.send("X26ABC1", "X26ABC2", "WF", []byte("b"), nil)
	r := s.do(req{path: "/messageexchange/X26ABC2/count", auth: "X26ABC2"})
	m := r.json(t)
	if r.status != 200 || m["count"] != float64(2) || m["allResultsIncluded"] != true || m["internalID"] == "" {
		t.Fatalf("v1: %d %s", r.status, r.body)
	}
	r = s.do(req{path: "/messageexchange/X26ABC2/count", auth: "X26ABC2", v2: true})
	if r.status != 200 || string(r.body) != `{"count":2}` {
		t.Fatalf("v2: %d %s", r.status, r.body)
	}
}

func TestTracking(t *testing.T) {
	s := newSBX(t)
	id := s.send("X26ABC1", "X26ABC2", "TEST_WORKFLOW", []byte("abc"), map[string]string{"Mex-LocalID": "L1", "Mex-Subject": "subj"})
	v1 := s.trackV1(t, "X26ABC1", strings.ToLower(id))
	if v1.MessageID != id || v1.DTSID != id || v1.Status != "Accepted" || v1.StatusSuccess != "SUCCESS" || v1.MessageType != "Data" ||
		v1.Recipient != "X26ABC2" || v1.RecipientName != "TESTMB2" || v1.RecipientBillingEntity != "Wales" || v1.SenderName != "TESTMB1" ||
		v1.FileSize != 3 || v1.ChunkCount != 1 || v1.LocalID != "L1" || v1.Subject != "subj" || v1.Version != "1.0" ||
		v1.FileName != id+".dat" || len(v1.UploadTimestamp) != 14 || len(v1.ExpiryTime) != 14 || v1.AddressType != "ALL" {
		t.Errorf("v1: %+v", v1)
	}
	v2 := s.trackV2(t, "X26ABC1", id)
	if v2.MessageID != id || v2.Status != "accepted" || *v2.StatusSuccess != true || v2.RecipientODSCode != "X26" || v2.ExpiryTime == "" {
		t.Errorf("v2: %+v", v2)
	}
	if _, err := time.Parse(time.RFC3339, v2.UploadTimestamp); err != nil {
		t.Errorf("upload_timestamp %q: %v", v2.UploadTimestamp, err)
	}
	// Another mailbox's message is not found, not forbidden.
	wantError(t, s.do(req{path: "/messageexchange/X26ABC2/outbox/tracking?messageID=" + id, auth: "X26ABC2"}), 404, "RECEIVE", "20", "")
	wantError(t, s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking?messageID=NOPE", auth: "X26ABC1", v2: true}), 404, "RECEIVE", "20", "")
	for _, q := range []string{"", "?messageID=", "?messageid=" + id} {
		if r := s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking" + q, auth: "X26ABC1"}); r.status != 400 {
			t.Errorf("tracking%s: %d %s", q, r.status, r.body)
		}
	}
	// By local id: v1 body, 404 none, 300 when not unique.
	r := s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking/L1", auth: "X26ABC1", v2: true})
	if r.status != 200 || r.json(t)["messageId"] != id || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("local id: %d %s", r.status, r.body)
	}
	if r := s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking/NONE", auth: "X26ABC1"}); r.status != 404 {
		t.Errorf("unknown local id: %d", r.status)
	}
	s.send("X26ABC1", "X26ABC3", "TEST_WORKFLOW", []byte("abc"), map[string]string{"Mex-LocalID": "L1"})
	if r := s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking/L1", auth: "X26ABC1"}); r.status != 300 {
		t.Errorf("duplicate local id: %d %s", r.status, r.body)
	}
	slashed := s.send("X26ABC1", "X26ABC2", "TEST_WORKFLOW", []byte("abc"), map[string]string{"Mex-LocalID": "dir/file 1"})
	if r := s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking/" + url.PathEscape("dir/file 1"), auth: "X26ABC1"}); r.status != 200 || r.json(t)["messageId"] != slashed {
		t.Errorf("local id with a slash: %d %s", r.status, r.body)
	}
	s.ack("X26ABC2", id)
	if v1 := s.trackV1(t, "X26ABC1", id); v1.Status != "Acknowledged" || len(v1.DownloadTimestamp) != 14 {
		t.Errorf("after ack: %+v", v1)
	}
}

func TestLookups(t *testing.T) {
	s := newSBX(t)
	r := s.do(req{path: "/messageexchange/endpointlookup/X26/TEST_WORKFLOW_ACK"})
	var v1 mesh.LookupV1
	if r.status != 200 || json.Unmarshal(r.body, &v1) != nil || len(v1.Results) != 1 || v1.Results[0].Address != "X26ABC1" ||
		v1.Results[0].Description != "TESTMB1" || v1.Results[0].EndpointType != "MESH" || v1.QueryID == "" {
		t.Fatalf("v1 lookup: %d %s", r.status, r.body)
	}
	r = s.do(req{path: "/messageexchange/endpointlookup/x27/TEST_WORKFLOW2", v2: true})
	if r.status != 200 || string(r.body) != `{"results":[{"mailbox_id":"X26ABC3","mailbox_name":"TESTMB3"}]}` {
		t.Fatalf("v2 lookup: %d %s", r.status, r.body)
	}
	r = s.do(req{path: "/messageexchange/endpointlookup/X99/TEST_WORKFLOW", v2: true})
	if r.status != 200 || string(r.body) != `{"results":[]}` {
		t.Fatalf("no match: %d %s", r.status, r.body)
	}
	if r := s.do(req{path: "/messageexchange/endpointlookup/%20/TEST_WORKFLOW"}); r.status != 400 {
		t.Errorf("blank ods: %d", r.status)
	}
	for _, v2 := range []bool{false, true} {
		r = s.do(req{path: "/messageexchange/workflowsearch/TEST_WORKFLOW2", v2: v2})
		var out mesh.LookupV2
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil || len(out.Results) != 3 || out.Results[0].MailboxID != "X26ABC1" {
			t.Fatalf("workflow search: %d %s", r.status, r.body)
		}
	}
}

func TestUpdateAndRich(t *testing.T) {
	s := newSBX(t)
	if r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/update", auth: "X26ABC1"}); r.status != 200 {
		t.Fatalf("update: %d", r.status)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, s.send("X26ABC1", "X26ABC2", "WF", []byte("x"), nil))
	}
	s.ack("X26ABC2", ids[0])
	r := s.do(req{path: "/messageexchange/X26ABC2/inbox/rich?max_results=3", auth: "X26ABC2"})
	var view richView
	if r.status != 200 || json.Unmarshal(r.body, &view) != nil || len(view.Messages) != 3 || view.Messages[0].MessageID != ids[4] || view.Links["next"] == "" {
		t.Fatalf("rich inbox: %d %s", r.status, r.body)
	}
	r = s.do(req{path: view.Links["next"], auth: "X26ABC2"})
	if json.Unmarshal(r.body, &view) != nil || len(view.Messages) != 2 || view.Messages[1].MessageID != ids[0] || view.Messages[1].Status != "acknowledged" {
		t.Fatalf("rich inbox page 2: %d %s", r.status, r.body)
	}
	r = s.do(req{path: "/messageexchange/X26ABC1/outbox/rich", auth: "X26ABC1"})
	if json.Unmarshal(r.body, &view) != nil || len(view.Messages) != 5 {
		t.Fatalf("rich outbox: %d %s", r.status, r.body)
	}
	if r := s.do(req{path: "/messageexchange/X26ABC1/outbox/rich?continue_from=@@", auth: "X26ABC1"}); r.status != 400 {
		t.Fatalf("bad continue_from: %d", r.status)
	}
}
