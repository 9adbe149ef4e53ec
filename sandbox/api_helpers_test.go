package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond) // distinct times, as a real clock
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sbx is an API under test over plain HTTP.
type sbx struct {
	t      *testing.T
	srv    *httptest.Server
	st     *store
	clock  *fakeClock
	client *http.Client
	dir    string
}

type sbxOption func(*apiOptions, *sbxSetup)

type sbxSetup struct {
	dataDir string
}

func withOpts(f func(*apiOptions)) sbxOption { return func(o *apiOptions, _ *sbxSetup) { f(o) } }

func withDataDir(dir string) sbxOption { return func(_ *apiOptions, s *sbxSetup) { s.dataDir = dir } }

// storeKinds are the two stores every store-dependent test runs against.
var storeKinds = []string{"memory", "file"}

// newSBXFor starts a sandbox API on the named store kind.
func newSBXFor(t *testing.T, store string, options ...sbxOption) *sbx {
	t.Helper()
	if store == "file" {
		options = append(options, withDataDir(t.TempDir()))
	}
	return newSBX(t, options...)
}

func newSBX(t *testing.T, options ...sbxOption) *sbx {
	t.Helper()
	clock := newFakeClock()
	opts := apiOptions{
		SharedKey:       DefaultSharedKey,
		Now:             clock.Now,
		TokenWindow:     mesh.TokenWindow,
		SingleUseTokens: true,
		MaxRequestBytes: DefaultMaxRequestBytes,
	}
	var setup sbxSetup
	for _, o := range options {
		o(&opts, &setup)
	}
	st, err := openStore(setup.dataDir, DefaultMailboxes(), DefaultWorkflows(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newAPI(opts, st))
	s := &sbx{t: t, srv: srv, st: st, clock: clock, dir: setup.dataDir,
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return s
}

// reopen starts a new API on the same data directory (a restart).
func (s *sbx) reopen() *sbx {
	s.t.Helper()
	s.srv.Close()
	s.st.Close()
	st, err := openStore(s.dir, DefaultMailboxes(), DefaultWorkflows(), s.clock.Now)
	if err != nil {
		s.t.Fatal(err)
	}
	opts := apiOptions{SharedKey: DefaultSharedKey, Now: s.clock.Now, TokenWindow: mesh.TokenWindow, SingleUseTokens: true}
	n := &sbx{t: s.t, srv: httptest.NewServer(newAPI(opts, st)), st: st, clock: s.clock, client: s.client, dir: s.dir}
	s.t.Cleanup(func() { n.srv.Close(); st.Close() })
	return n
}

func token(mailbox string, at time.Time) string {
	return mesh.NewToken(mesh.Credentials{Mailbox: mailbox, Password: DefaultPassword, SharedKey: DefaultSharedKey}, at)
}

// req is one request: auth is the mailbox to sign for ("" for none).
type req struct {
	method  string
	path    string
	auth    string
	v2      bool
	headers map[string]string
	body    []byte
	chunked bool // send the body without a Content-Length
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (s *sbx) do(q req) *resp {
	s.t.Helper()
	var body io.Reader = http.NoBody
	if q.body != nil {
		body = bytes.NewReader(q.body)
		if q.chunked {
			body = io.MultiReader(bytes.NewReader(q.body))
		}
	}
	method := q.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, s.srv.URL+q.path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if q.chunked {
		r.ContentLength = -1
	}
	if q.auth != "" {
		r.Header.Set("Authorization", token(q.auth, s.clock.Now()))
	}
	if q.v2 {
		r.Header.Set("Accept", mesh.AcceptV2)
	}
	for k, v := range q.headers {
		r.Header[k] = []string{v} // as given: tests send odd spellings and empty values
	}
	res, err := s.client.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// send sends a one-chunk message and returns its id.
func (s *sbx) send(from, to, workflow string, body []byte, headers map[string]string) string {
	s.t.Helper()
	h := map[string]string{"Mex-To": to, "Mex-Workflowid": workflow}
	for k, v := range headers {
		h[k] = v
	}
	r := s.do(req{method: "POST", path: "/messageexchange/" + from + "/outbox", auth: from, headers: h, body: body})
	if r.status != http.StatusAccepted {
		s.t.Fatalf("send: %d %s", r.status, r.body)
	}
	id, _ := r.json(s.t)["messageID"].(string)
	if id == "" {
		s.t.Fatalf("send: no messageID in %s", r.body)
	}
	return id
}

func (s *sbx) inboxV1(mb string) []string {
	s.t.Helper()
	r := s.do(req{path: "/messageexchange/" + mb + "/inbox", auth: mb})
	if r.status != 200 {
		s.t.Fatalf("inbox: %d %s", r.status, r.body)
	}
	var body struct{ Messages []string }
	if err := json.Unmarshal(r.body, &body); err != nil {
		s.t.Fatal(err)
	}
	return body.Messages
}

func (s *sbx) ack(mb, id string) {
	s.t.Helper()
	r := s.do(req{method: "PUT", path: "/messageexchange/" + mb + "/inbox/" + id + "/status/acknowledged", auth: mb})
	if r.status != 200 {
		s.t.Fatalf("ack: %d %s", r.status, r.body)
	}
}

// wantStatus checks a response's status and, when desc is set, that its
// MESH error body has that description (v1 or v2).
func wantError(t *testing.T, r *resp, status int, event, code, desc string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	e := mesh.DecodeError("", "", r.status, r.body)
	if e.Event != event || e.Code != code || (desc != "" && !strings.Contains(e.Description, desc)) {
		t.Fatalf("error (%q, %q, %q), want (%q, %q, %q); body %s", e.Event, e.Code, e.Description, event, code, desc, r.body)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
