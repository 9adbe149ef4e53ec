package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// benchAPI is the handler alone, without HTTP or TLS: what it adds to each
// request of make bench.
func benchAPI(b *testing.B) http.Handler {
	st, err := openStore("", DefaultMailboxes(), DefaultWorkflows(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	return newAPI(apiOptions{SharedKey: DefaultSharedKey, Now: time.Now, TokenWindow: mesh.TokenWindow, SingleUseTokens: true}, st)
}

var benchNonce atomic.Int64

func benchToken(mb string) string {
	return mesh.BuildToken(mesh.Credentials{Mailbox: mb, Password: DefaultPassword, SharedKey: DefaultSharedKey},
		"bench", int(benchNonce.Add(1)), time.Now())
}

func BenchmarkHandshake(b *testing.B) {
	h := benchAPI(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/messageexchange/X26ABC1", nil)
			r.Header.Set("Authorization", benchToken("X26ABC1"))
			r.Header.Set("Mex-ClientVersion", "bench")
			r.Header.Set("Mex-OSName", "Linux")
			r.Header.Set("Mex-OSVersion", "1")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code, w.Body)
			}
		}
	})
}

// BenchmarkCycle is send, download and acknowledge of a 1 KiB message.
func BenchmarkCycle(b *testing.B) {
	h := benchAPI(b)
	payload := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/messageexchange/X26ABC1/outbox", bytes.NewReader(payload))
			r.Header.Set("Authorization", benchToken("X26ABC1"))
			r.Header.Set("Mex-To", "X26ABC2")
			r.Header.Set("Mex-WorkflowID", "TEST_WORKFLOW")
			r.Header.Set("Content-Length", strconv.Itoa(len(payload)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 202 {
				b.Fatal(w.Code, w.Body)
			}
			id := w.Body.String()[len(`{"messageID":"`) : len(`{"messageID":"`)+messageIDLen]
			r = httptest.NewRequest("GET", "/messageexchange/X26ABC2/inbox/"+id, nil)
			r.Header.Set("Authorization", benchToken("X26ABC2"))
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 || w.Body.Len() != len(payload) {
				b.Fatal(w.Code, w.Body)
			}
			r = httptest.NewRequest("PUT", "/messageexchange/X26ABC2/inbox/"+id+"/status/acknowledged", nil)
			r.Header.Set("Authorization", benchToken("X26ABC2"))
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code, w.Body)
			}
		}
	})
}

// BenchmarkFileStoreChunk uploads and downloads 20 MiB chunks through the
// file store over loopback HTTP (make bench adds TLS).
func BenchmarkFileStoreChunk(b *testing.B) {
	st, err := openStore(b.TempDir(), DefaultMailboxes(), DefaultWorkflows(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(newAPI(apiOptions{SharedKey: DefaultSharedKey, Now: time.Now, TokenWindow: mesh.TokenWindow}, st))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	do := func(method, path, mb string, body []byte, h map[string]string) *http.Response {
		var rd *bytes.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		} else {
			rd = bytes.NewReader(nil)
		}
		r, _ := http.NewRequest(method, srv.URL+path, rd)
		r.Header.Set("Authorization", benchToken(mb))
		for k, v := range h {
			r.Header.Set(k, v)
		}
		res, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	n := b.N + 1
	res := do("POST", "/messageexchange/X26ABC1/outbox", "X26ABC1", chunk,
		map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "WF", "Mex-Chunk-Range": "1:" + strconv.Itoa(n)})
	var id struct{ MessageID string }
	if err := jsonDecode(res, &id); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * int64(len(chunk)))
	b.ResetTimer()
	for k := 2; k <= n; k++ {
		res := do("POST", "/messageexchange/X26ABC1/outbox/"+id.MessageID+"/"+strconv.Itoa(k), "X26ABC1", chunk,
			map[string]string{"Mex-Chunk-Range": strconv.Itoa(k) + ":" + strconv.Itoa(n)})
		res.Body.Close()
		if res.StatusCode != 202 {
			b.Fatal(res.Status)
		}
	}
	for k := 2; k <= n; k++ {
		res := do("GET", "/messageexchange/X26ABC2/inbox/"+id.MessageID+"/"+strconv.Itoa(k), "X26ABC2", nil, nil)
		got, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got != int64(len(chunk)) {
			b.Fatal(res.Status, got)
		}
	}
}

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}
