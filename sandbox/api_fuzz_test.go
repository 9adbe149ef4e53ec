package sandbox

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// FuzzRouter throws arbitrary methods, paths, queries, headers and bodies at
// the API: it must never answer 500 (which is what a recovered panic gives).
func FuzzRouter(f *testing.F) {
	for _, seed := range []struct{ method, path, accept, chunkRange, body string }{
		{"GET", "/messageexchange/X26ABC1/inbox?max_results=10&continue_from=Yzo1OlgyNkFCQzEuLi4uLi4uLi4u", "application/vnd.mesh.v2+json", "", ""},
		{"POST", "/messageexchange/X26ABC1/outbox", "", "1:2", "abc"},
		{"POST", "/messageexchange/X26ABC1/outbox/ID/2", "", "2:2", "abc"},
		{"GET", "/messageexchange/X26ABC1/inbox/ID/99999999999", "", "", ""},
		{"HEAD", "/messageexchange/X26ABC1/inbox/ID", "application/vnd.mesh.v1+json", "", ""},
		{"PUT", "/messageexchange/X26ABC1/inbox/ID/status/acknowledged", "", "", ""},
		{"POST", "/messageexchange/admin/report", "", "", `{"mailbox_id":"X26ABC1","code":"1","description":"d","workflow_id":"w"}`},
		{"POST", "/admin/message/ID/event", "", "", `{"status":"accepted"}`},
		{"GET", "/messageexchange/X26ABC1/outbox/tracking?messageID=%00", "", "", ""},
		{"GET", "/messageexchange/endpointlookup/X26/%2F", "", "", ""},
		{"GET", "/messageexchange/X26ABC1/inbox/rich?start_time=2020-01-01&continue_from=cjox", "", "", ""},
	} {
		f.Add(seed.method, seed.path, seed.accept, seed.chunkRange, seed.body, true)
	}
	clock := newFakeClock()
	st, err := openStore("", DefaultMailboxes(), DefaultWorkflows(), clock.Now)
	if err != nil {
		f.Fatal(err)
	}
	h := newAPI(apiOptions{SharedKey: DefaultSharedKey, Now: clock.Now, TokenWindow: mesh.TokenWindow, MaxRequestBytes: 1 << 16}, st)
	// A message to poke at.
	id, err := st.send(sendRequest{meta: msgMeta{Sender: "X26ABC1", Recipient: "X26ABC1", Total: 2}, body: strings.NewReader("x"), sizeHint: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, accept, chunkRange, body string, signed bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		path = strings.ReplaceAll(path, "ID", id)
		r, err := http.NewRequest(method, "http://sandbox"+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		r.Header.Set("Accept", accept)
		r.Header.Set("Mex-Chunk-Range", chunkRange)
		r.Header.Set("Mex-To", chunkRange)
		r.Header.Set("Mex-WorkflowID", accept)
		r.Header.Set("Mex-ClientVersion", "fuzz")
		if signed {
			r.Header.Set("Authorization", mesh.NewToken(mesh.Credentials{Mailbox: "X26ABC1", Password: DefaultPassword, SharedKey: DefaultSharedKey}, clock.Now()))
		} else {
			r.Header.Set("Authorization", body)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500 %s", method, path, w.Body)
		}
		clock.Advance(time.Minute)
	})
}
