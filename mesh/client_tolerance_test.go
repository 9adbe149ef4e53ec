package mesh

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The client tolerates every body real servers give to handshakes, acks
// and chunk uploads, and every 2xx status they answer with: MESH, the
// sandbox and the SPEC disagree (mesh-api.md §3.2, §3.4, §3.8, §3.12).
func TestClientTolerates2xxAnswerVariants(t *testing.T) {
	bodies := []string{"", "null", "{}", "  \n", `{"messageID": "%s", "blockId": 2}`, `{"messageID": "%s", "blockID": 2}`,
		`{"message_id": "%s"}`, `{"messageId": "%s"}`, `{"mailboxId": "X26ABC1"}`}
	statuses := []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent, http.StatusPartialContent}
	for _, v := range []int{1, 2} {
		for _, status := range statuses {
			for _, body := range bodies {
				name := fmt.Sprintf("v%d/%d/%q", v, status, body)
				t.Run(name, func(t *testing.T) {
					f := newClFake(t)
					var id string
					f.hook = func(w http.ResponseWriter, r *http.Request) bool {
						first := clIsFirstPost(r)
						if first || r.Method == http.MethodGet {
							return false // the fake sends and lists as usual
						}
						if status != http.StatusNoContent {
							b := body
							if strings.Contains(b, "%s") {
								b = fmt.Sprintf(b, id)
							}
							w.WriteHeader(status)
							_, _ = io.WriteString(w, b)
						} else {
							w.WriteHeader(status)
						}
						return true
					}
					c := f.client(f.start(), clSender, func(cfg *Config) { cfg.APIVersion = v; cfg.ChunkSize = 2 })
					ctx := context.Background()
					if err := c.Handshake(ctx); err != nil {
						t.Errorf("Handshake: %v", err)
					}
					var err error
					id, err = c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("abcd"), 4)
					if err != nil || id == "" {
						t.Errorf("Send: %q %v", id, err)
					}
					if err := c.Acknowledge(ctx, id); err != nil {
						t.Errorf("Acknowledge: %v", err)
					}
				})
			}
		}
	}
}

// The send answer's message id is taken from messageID, message_id or
// messageId whichever version was asked for, then from Mex-MessageID.
func TestClientSendAcceptsEitherIDSpelling(t *testing.T) {
	const id = "20240101120000123456_ABCDEF"
	tests := []struct {
		status int
		body   string
		header string
		want   string
	}{
		{202, `{"messageID": "` + id + `"}`, "", id},
		{202, `{"message_id": "` + id + `"}`, "", id},
		{202, `{"messageId": "` + id + `"}`, "", id},
		{200, `{"message_id": " ` + id + ` "}`, "", id},
		{202, ``, id, id},
		{202, `null`, id, id},
		{202, `not json`, id, id},
		{202, `{}`, "", ""},
		{202, ``, "", ""},
		{202, `<html>accepted</html>`, "", ""},
	}
	for _, v := range []int{1, 2} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("v%d/%d/%s/%s", v, tt.status, tt.body, tt.header), func(t *testing.T) {
				f := newClFake(t)
				f.hook = func(w http.ResponseWriter, r *http.Request) bool {
					if tt.header != "" {
						w.Header().Set("mex-messageid", tt.header)
					}
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
					return true
				}
				c := f.client(f.start(), clSender, func(cfg *Config) { cfg.APIVersion = v })
				got, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
				if tt.want != "" {
					if err != nil || got != tt.want {
						t.Fatalf("Send = %q, %v; want %q", got, err, tt.want)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), "may hold the message") {
					t.Fatalf("Send = %q, %v; want an error saying MESH may hold the message", got, err)
				}
				if n := len(f.uploads()); n != 1 {
					t.Errorf("first POST sent %d times", n)
				}
			})
		}
	}
}

// A v1 listing holds at most 500 ids: a page of exactly 500 means "poll
// again" (the SPEC's poll cycle), even when more were asked for.
func TestClientListV1FullPageOf500(t *testing.T) {
	for _, maxResults := range []int{0, 1000, 5000} {
		t.Run(fmt.Sprint(maxResults), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			ids := f.fill(730)
			// A v1 server that caps every answer at 500, whatever max_results says.
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/inbox") {
					return false
				}
				all := f.inboxIDs(clRecipient)
				if cf := r.URL.Query().Get("continue_from"); cf != "" {
					all = all[slices.Index(all, cf)+1:]
				}
				clWriteJSON(w, http.StatusOK, InboxV1{Messages: all[:min(500, len(all))]})
				return true
			}
			c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = 1 })
			page, err := c.ListInbox(context.Background(), ListOptions{MaxResults: maxResults})
			if err != nil || len(page.Messages) != 500 || page.ContinueFrom != ids[499] {
				t.Fatalf("first page: %d ids, continue from %q, %v", len(page.Messages), page.ContinueFrom, err)
			}
			all, err := c.ListAll(context.Background(), ListOptions{MaxResults: maxResults})
			if err != nil || !slices.Equal(all, ids) {
				t.Fatalf("ListAll: %d ids, %v", len(all), err)
			}
		})
	}
	// Exactly 500 in the inbox: one more request, which comes back empty.
	f := newClFake(t)
	srv := f.start()
	ids := f.fill(500)
	c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = 1 })
	all, err := c.ListAll(context.Background(), ListOptions{})
	if err != nil || !slices.Equal(all, ids) {
		t.Fatalf("ListAll of 500: %d ids, %v", len(all), err)
	}
	gets := f.requestsTo(http.MethodGet, "/inbox")
	if len(gets) != 2 || gets[1].Query != "continue_from="+ids[499] {
		t.Errorf("%d listings; second query %q", len(gets), gets[len(gets)-1].Query)
	}
}

// v2 listings: links absent, null, empty or with a null next end the
// listing; approx_inbox_count may be missing, null or a string.
func TestClientListV2AnswerVariants(t *testing.T) {
	tests := []struct {
		body      string
		wantCount int
	}{
		{`{"messages": ["A"]}`, -1},
		{`{"messages": ["A"], "links": null, "approx_inbox_count": null}`, -1},
		{`{"messages": ["A"], "links": {}, "approx_inbox_count": 7}`, 7},
		{`{"messages": ["A"], "links": {"self": "/messageexchange/X26ABC2/inbox"}, "approx_inbox_count": "7"}`, 7},
		{`{"messages": ["A"], "links": {"next": null}, "approx_inbox_count": 0}`, 0},
		{`{"messages": ["A"], "links": {"next": ""}, "approx_inbox_count": "many"}`, -1},
		{`{"messages": ["A"], "links": {"self": "x", "next": "  "}}`, -1},
	}
	for _, tt := range tests {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, tt.body)
			return true
		}
		c := f.client(f.start(), clRecipient, nil)
		page, err := c.ListInbox(context.Background(), ListOptions{})
		if err != nil || !slices.Equal(page.Messages, []string{"A"}) || page.Next != "" || page.ContinueFrom != "" || page.ApproxInboxCount != tt.wantCount {
			t.Errorf("%s: %+v %v", tt.body, page, err)
		}
		all, err := c.ListAll(context.Background(), ListOptions{})
		if err != nil || len(all) != 1 {
			t.Errorf("%s: ListAll %v %v", tt.body, all, err)
		}
	}
	// A null messages list is an empty inbox.
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		_, _ = io.WriteString(w, `{"messages": null, "approx_inbox_count": 0}`)
		return true
	}
	if page, err := f.client(f.start(), clRecipient, nil).ListInbox(context.Background(), ListOptions{}); err != nil || len(page.Messages) != 0 {
		t.Errorf("null messages: %+v %v", page, err)
	}
}

// links.next may be relative (usual), absolute on the same host, or
// written by a server behind a TLS terminator as http://: all are followed
// on BaseURL's scheme and host.
func TestClientListAllFollowsLinkForms(t *testing.T) {
	forms := map[string]func(srv *httptest.Server, path, query string) string{
		"relative path": func(_ *httptest.Server, p, q string) string { return p + "?" + q },
		"absolute":      func(srv *httptest.Server, p, q string) string { return srv.URL + p + "?" + q },
		"query only":    func(_ *httptest.Server, _, q string) string { return "?" + q },
		"relative name": func(_ *httptest.Server, _, q string) string { return "inbox?" + q },
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			ids := f.fill(25)
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/inbox") {
					return false
				}
				rec := httptest.NewRecorder()
				f.list(rec, r, 2, clRecipient)
				var page struct {
					Messages []string          `json:"messages"`
					Links    map[string]string `json:"links"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
					t.Fatal(err)
				}
				if next := page.Links["next"]; next != "" {
					u, _ := url.Parse(next)
					page.Links["next"] = form(srv, u.Path, u.RawQuery)
				}
				clWriteJSON(w, http.StatusOK, page)
				return true
			}
			c := f.client(srv, clRecipient, nil)
			all, err := c.ListAll(context.Background(), ListOptions{MaxResults: 10})
			if err != nil || !slices.Equal(all, ids) {
				t.Fatalf("ListAll: %d ids, %v", len(all), err)
			}
		})
	}
}

// max_results outside 10-5000 is refused before anything is sent.
func TestClientMaxResultsRange(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clRecipient, nil)
	for _, n := range []int{-1, 1, 9, 5001, 1 << 30} {
		_, err := c.ListInbox(context.Background(), ListOptions{MaxResults: n})
		if err == nil || !strings.Contains(err.Error(), "10 to 5000") {
			t.Errorf("MaxResults %d: %v", n, err)
		}
		if _, err := c.ListAll(context.Background(), ListOptions{MaxResults: n}); err == nil {
			t.Errorf("ListAll MaxResults %d accepted", n)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for refused options", n)
	}
	for _, n := range []int{0, 10, 5000} {
		if _, err := c.ListInbox(context.Background(), ListOptions{MaxResults: n}); err != nil {
			t.Errorf("MaxResults %d: %v", n, err)
		}
	}
}

// Workflow filters reach MESH intact, whatever characters they hold.
func TestClientWorkflowFilterEscaped(t *testing.T) {
	for _, filter := range []string{"TEST*", "!TEST*", "*MID*", "!*A B*", "A&B=C", "WF+1", "#x?%"} {
		f := newClFake(t)
		c := f.client(f.start(), clRecipient, nil)
		if _, err := c.ListInbox(context.Background(), ListOptions{MaxResults: 10, WorkflowFilter: filter}); err != nil {
			t.Fatal(err)
		}
		q, err := url.ParseQuery(f.requestsTo(http.MethodGet, "/inbox")[0].Query)
		if err != nil || q.Get("workflow_filter") != filter || q.Get("max_results") != "10" || len(q) != 2 {
			t.Errorf("%q arrived as %v (%v)", filter, q, err)
		}
	}
}

// Message ids are escaped in every path and in the tracking query, so an
// id holding '/', '?', '#', '%' or a space cannot change the request.
func TestClientEscapesMessageIDs(t *testing.T) {
	ids := []string{"A/B", "A?B=1", "A#B", "A%2FB", "A B", "../X"}
	for _, id := range ids {
		f := newClFake(t)
		var paths []string
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			paths = append(paths, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery)
			switch {
			case clIsFirstPost(r):
				clWriteJSON(w, http.StatusAccepted, SendResponseV2{MessageID: id})
			case strings.Contains(r.URL.Path, "/tracking"):
				if got := r.URL.Query().Get("messageID"); got != id {
					t.Errorf("tracking asked for %q, want %q", got, id)
				}
				clWriteJSON(w, http.StatusOK, TrackingV2{MessageID: id, Status: "accepted"})
			default:
				w.WriteHeader(http.StatusOK)
			}
			return true
		}
		c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 1 })
		ctx := context.Background()
		if _, err := c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("ab"), 2); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Download(ctx, id, io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Head(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := c.Acknowledge(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Track(ctx, id); err != nil {
			t.Fatal(err)
		}
		e := url.PathEscape(id)
		want := []string{
			"POST /messageexchange/X26ABC1/outbox?",
			"POST /messageexchange/X26ABC1/outbox/" + e + "/2?",
			"GET /messageexchange/X26ABC1/inbox/" + e + "?",
			"HEAD /messageexchange/X26ABC1/inbox/" + e + "?",
			"PUT /messageexchange/X26ABC1/inbox/" + e + "/status/acknowledged?",
			"GET /messageexchange/X26ABC1/outbox/tracking?messageID=" + url.QueryEscape(id),
		}
		if !slices.Equal(paths, want) {
			t.Errorf("id %q:\n got %q\nwant %q", id, paths, want)
		}
	}
}

func TestClientTrackingAnswerVariants(t *testing.T) {
	tests := []struct {
		v          int
		body       string
		status     string
		success    *bool
		statusTime time.Time
		fileSize   int64
		chunks     int
	}{
		{2, `{"message_id": "M", "status": "Accepted", "status_success": true, "status_timestamp": "20240101120102"}`,
			"accepted", new(true), time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC), 0, 0},
		{2, `{"message_id": "M", "status": "ACKNOWLEDGED", "status_success": "SUCCESS", "status_timestamp": "2024-01-01T12:01:02.123456+00:00"}`,
			"acknowledged", new(true), time.Date(2024, 1, 1, 12, 1, 2, 123456000, time.UTC), 0, 0},
		{2, `{"message_id": "M", "status": " undeliverable ", "status_success": null, "status_timestamp": "2024-01-01 13:01:02+0100"}`,
			"undeliverable", nil, time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC), 0, 0},
		{2, `{"message_id": "M", "status": "error", "status_success": "false", "status_timestamp": null, "recipient": 12}`,
			"error", new(false), time.Time{}, 0, 0},
		{1, `{"messageId": "M", "status": "Acknowledged", "statusSuccess": "SUCCESS", "statusTimestamp": "20240101120102", "fileSize": "187", "chunkCount": "3"}`,
			"acknowledged", new(true), time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC), 187, 3},
		{1, `{"dtsId": "M", "status": "UPLOADING", "statusSuccess": null, "statusTimestamp": null, "fileSize": 187, "chunkCount": null}`,
			"uploading", nil, time.Time{}, 187, 0},
		{1, `{"messageId": "M", "status": "Error", "statusSuccess": "ERROR", "statusTimestamp": "2024-01-01T12:01:02Z"}`,
			"error", new(false), time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC), 0, 0},
	}
	for i, tt := range tests {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, tt.body)
			return true
		}
		c := f.client(f.start(), clSender, func(cfg *Config) { cfg.APIVersion = tt.v })
		tr, err := c.Track(context.Background(), "M")
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if tr.MessageID != "M" || tr.Status != tt.status || !tr.StatusTime.Equal(tt.statusTime) ||
			(tr.StatusSuccess == nil) != (tt.success == nil) || tr.StatusSuccess != nil && *tr.StatusSuccess != *tt.success ||
			tr.FileSize != tt.fileSize || tr.ChunkCount != tt.chunks {
			t.Errorf("%d: %+v", i, tr)
		}
	}
	// Not a tracking record at all: an error, not an empty record.
	for _, body := range []string{"", "null", "[]", `"accepted"`, "<html>login</html>"} {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, body)
			return true
		}
		if tr, err := f.client(f.start(), clSender, nil).Track(context.Background(), "M"); err == nil {
			t.Errorf("%q: no error, %+v", body, tr)
		}
	}
}

func TestClientParseMeshTimeForms(t *testing.T) {
	base := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := map[string]time.Time{
		"20240304050607":                   base,
		"202403040506":                     base.Add(-7 * time.Second),
		"20240304050607123":                base.Add(123 * time.Millisecond),
		"20240304050607123456":             base.Add(123456 * time.Microsecond),
		"20240304050607.5":                 base.Add(500 * time.Millisecond),
		"2024-03-04T05:06:07Z":             base,
		"2024-03-04t05:06:07z":             base,
		"2024-03-04T05:06:07":              base,
		"2024-03-04T05:06:07.123":          base.Add(123 * time.Millisecond),
		"2024-03-04T05:06:07.123456789Z":   base.Add(123456789),
		"2024-03-04T06:06:07+01:00":        base,
		"2024-03-04T06:06:07+0100":         base,
		"2024-03-04T06:06:07.5+01":         base.Add(500 * time.Millisecond),
		"2024-03-04 05:06:07":              base,
		"2024-03-04 05:06:07.000000+00:00": base,
		" 2024-03-04T05:06:07Z ":           base,
		"2024-03-04T05:06":                 base.Add(-7 * time.Second),
	}
	for in, want := range tests {
		if got := parseMeshTime(in); !got.Equal(want) {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "soon", "2024", "20241304050607", "2024030405060", "20240304050607.x", "null"} {
		if got := parseMeshTime(bad); !got.IsZero() {
			t.Errorf("%q: %s, want zero", bad, got)
		}
	}
}

// REPORT downloads come with an empty body and every chunk-header
// variation: "1:0", none, Mex-Total-Chunks 0 or none, even a gzip
// Content-Encoding on nothing. One request, the status headers read.
func TestClientReportDownloadVariants(t *testing.T) {
	variants := []map[string]string{
		{"Mex-Chunk-Range": "1:0", "Mex-Total-Chunks": "0"},
		{"Mex-Chunk-Range": "1:0"},
		{"Mex-Total-Chunks": "0"},
		{},
		{"Mex-Chunk-Range": "1:1", "Mex-Total-Chunks": "1"},
		{"Mex-Chunk-Range": "1:0", "Content-Encoding": "gzip"},
		{"Content-Encoding": "gzip", "Content-Length": "0"},
	}
	for i, hv := range variants {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			h := w.Header()
			for k, v := range hv {
				h.Set(k, v)
			}
			h.Set("mex-messagetype", "report")
			h.Set("mex-statuscode", "14")
			h.Set("mex-statussuccess", "ERROR")
			h.Set("mex-statusevent", "SEND")
			h.Set("mex-statustimestamp", "20240101120102")
			h.Set("mex-linkedmsgid", "20240101120000000009_000009")
			w.WriteHeader(http.StatusOK)
			return true
		}
		c := f.client(f.start(), clRecipient, nil)
		info, err := c.Download(context.Background(), "R1", io.Discard)
		if err != nil {
			t.Errorf("%d %v: %v", i, hv, err)
			continue
		}
		if info.MessageType != MessageTypeReport || info.TotalChunks != 1 || info.Size != 0 || info.StatusCode != "14" ||
			info.StatusSuccess != "ERROR" || info.LinkedMessageID == "" || info.StatusTime.IsZero() {
			t.Errorf("%d %v: info %+v", i, hv, info)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d %v: %d requests", i, hv, n)
		}
	}
}

// A single-chunk message without any chunk header, answered 200, is the
// whole message.
func TestClientDownloadWithoutChunkHeaders(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		_, _ = io.WriteString(w, "whole message")
		return true
	}
	var out strings.Builder
	info, err := f.client(f.start(), clRecipient, nil).Download(context.Background(), "M1", &out)
	if err != nil || out.String() != "whole message" || info.TotalChunks != 1 || info.Size != 13 {
		t.Fatalf("%q %+v %v", out.String(), info, err)
	}
}

// A transport of the caller's that would decompress on its own does not
// make the client decode twice: the client asks for gzip itself, so Go
// leaves the body alone, and the client inflates it.
func TestClientDownloadGzipThroughCompressingTransport(t *testing.T) {
	f := newClFake(t)
	f.gzipOnTheFly = true
	srv := f.start()
	id := f.put(clSender, clRecipient, nil, "", []byte("abc"), []byte("def"))
	c := f.client(srv, clRecipient, func(cfg *Config) { cfg.Transport = &http.Transport{} })
	var out strings.Builder
	info, err := c.Download(context.Background(), id, &out)
	if err != nil || out.String() != "abcdef" || info.ContentEncoding != "gzip" {
		t.Fatalf("%q %+v %v", out.String(), info, err)
	}
}

// Header names arrive in any case: lower case on the wire (HTTP/1 and
// HTTP/2), and even uncanonicalised from a caller's transport.
func TestClientHeaderNamesAnyCase(t *testing.T) {
	check := func(t *testing.T, c *Client) {
		t.Helper()
		var out strings.Builder
		info, err := c.Download(context.Background(), "M1", &out)
		if err != nil || out.String() != "abcdef" || info.TotalChunks != 2 || info.MessageID != "M1" ||
			info.MessageType != MessageTypeData || info.StatusTime.IsZero() {
			t.Fatalf("%q %+v %v", out.String(), info, err)
		}
	}
	// Raw HTTP/1.1 with lower-case names.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					status, k, body := "206 Partial Content", "1", "abc"
					if strings.HasSuffix(req.URL.Path, "/2") {
						status, k, body = "200 OK", "2", "def"
					}
					fmt.Fprintf(conn, "HTTP/1.1 %s\r\nmex-chunk-range: %s:2\r\nmex-messageid: M1\r\nmex-messagetype: data\r\n"+
						"mex-statustimestamp: 20240101120102\r\ncontent-length: %d\r\n\r\n%s", status, k, len(body), body)
				}
			}()
		}
	}()
	c, err := NewClient(Config{BaseURL: "http://" + ln.Addr().String(), Credentials: clCreds(clRecipient)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	t.Run("HTTP/1.1 lower case", func(t *testing.T) { check(t, c) })

	// HTTP/2 over TLS: names are lower case on the wire by definition.
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("served over %s", r.Proto)
		}
		h := w.Header()
		h["mex-messageid"] = []string{"M1"}
		h["mex-messagetype"] = []string{"DATA"}
		h["mex-statustimestamp"] = []string{"20240101120102"}
		if strings.HasSuffix(r.URL.Path, "/2") {
			h["mex-chunk-range"] = []string{"2:2"}
			_, _ = io.WriteString(w, "def")
			return
		}
		h["mex-chunk-range"] = []string{"1:2"}
		w.WriteHeader(http.StatusPartialContent)
		_, _ = io.WriteString(w, "abc")
	}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	pool := h2.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c2, err := NewClient(Config{BaseURL: h2.URL, Credentials: clCreds(clRecipient), TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.CloseIdleConnections)
	t.Run("HTTP/2", func(t *testing.T) { check(t, c2) })

	// A caller's transport that hands back names as they came.
	c3, err := NewClient(Config{BaseURL: "http://" + ln.Addr().String(), Credentials: clCreds(clRecipient),
		Transport: clLowerCaseHeaders{http.DefaultTransport}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("uncanonical map", func(t *testing.T) { check(t, c3) })
}

// clLowerCaseHeaders stores every response header under its lower-case
// name, as a hand-made transport might.
type clLowerCaseHeaders struct{ next http.RoundTripper }

func (l clLowerCaseHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(resp.Header))
	for k, v := range resp.Header {
		h[strings.ToLower(k)] = v
	}
	resp.Header = h
	return resp, nil
}

// Error answers of every shape are reported with what they say; bodies
// that are not JSON (XML SOAP, a proxy's HTML) show as an excerpt.
func TestClientErrorAnswerVariants(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
		calls  int
		check  func(*APIError) bool
	}{
		{"403 empty", 403, "", []string{"403 Forbidden"}, 1, func(e *APIError) bool { return e.IsAuth() }},
		{"410 after ack", 410, `{"errorEvent": "SEND", "errorCode": "", "errorDescription": "Message no longer available for download"}`,
			[]string{"410 Gone", "no longer available"}, 1, nil},
		{"404 after ack", 404, `{"detail": [{"event": "RECEIVE", "code": "20", "msg": "Message does not exist"}]}`,
			[]string{"404 Not Found", "code 20"}, 1, func(e *APIError) bool { return e.Code == "20" }},
		{"502 HTML from a proxy", 502, "<html><head><title>502 Bad Gateway</title></head>\n<body><center>nginx</center></body></html>",
			[]string{"502 Bad Gateway", "<title>502 Bad Gateway</title>"}, 4, nil},
		{"500 SOAP", 500, `<?xml version="1.0"?><soap:Envelope><soap:Body><soap:Fault><faultstring>Internal</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			[]string{"500 Internal Server Error", "faultstring"}, 1, nil},
		{"503 plain text", 503, "Service Unavailable\n", []string{"503", "Service Unavailable"}, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
				return true
			}
			c := f.client(f.start(), clRecipient, nil)
			_, err := c.Download(context.Background(), "20240101120000000001_00000A", io.Discard)
			e, ok := AsAPIError(err)
			if !ok || e.StatusCode != tt.status {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if tt.check != nil && !tt.check(e) {
				t.Errorf("check failed: %+v", e)
			}
			if n := len(f.requests()); n != tt.calls {
				t.Errorf("%d requests, want %d", n, tt.calls)
			}
		})
	}
}

// Retry-After is honoured in seconds and as an HTTP date; the date is read
// against the server's Date header, so a skewed local clock (a fault
// meshdoctor looks for) neither skips the wait nor stretches it.
func TestClientRetryAfterForms(t *testing.T) {
	for _, form := range []string{"seconds", "date"} {
		t.Run(form, func(t *testing.T) {
			f := newClFake(t)
			var first time.Time
			var retriedAfter time.Duration
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/inbox") {
					return false
				}
				if first.IsZero() {
					first = time.Now()
					now := first.UTC().Truncate(time.Second)
					w.Header().Set("Date", now.Format(http.TimeFormat))
					if form == "seconds" {
						w.Header().Set("Retry-After", "1")
					} else {
						w.Header().Set("Retry-After", now.Add(time.Second).Format(http.TimeFormat))
					}
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
				retriedAfter = time.Since(first)
				return false
			}
			// The local clock runs 90 minutes slow: still inside the token
			// window, but a Retry-After date read against it would be 90
			// minutes away and abandoned.
			c := f.client(f.start(), clRecipient, func(cfg *Config) {
				cfg.Clock = func() time.Time { return time.Now().Add(-90 * time.Minute) }
			})
			if _, err := c.ListInbox(context.Background(), ListOptions{}); err != nil {
				t.Fatal(err)
			}
			if retriedAfter < 900*time.Millisecond || retriedAfter > 10*time.Second {
				t.Errorf("retried after %s, want about 1s", retriedAfter)
			}
		})
	}
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	h := http.Header{"Date": {now.Format(http.TimeFormat)}}
	if got := serverNow(h); !got.Equal(now) {
		t.Errorf("serverNow = %s", got)
	}
	if got := serverNow(http.Header{}); time.Since(got) > time.Minute {
		t.Errorf("serverNow without Date = %s", got)
	}
	if d := parseRetryAfter("Mon, 01 Jan 2024 12:00:30 GMT", serverNow(h)); d != 30*time.Second {
		t.Errorf("date form: %s", d)
	}
}

func TestClientCountAnswerVariants(t *testing.T) {
	tests := map[string]int{`{"count": 4}`: 4, `{"count": "4"}`: 4, `{"count": 0, "internalID": "X", "allResultsIncluded": true}`: 0}
	for body, want := range tests {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool { _, _ = io.WriteString(w, body); return true }
		if n, err := f.client(f.start(), clRecipient, nil).Count(context.Background()); err != nil || n != want {
			t.Errorf("%s: %d %v", body, n, err)
		}
	}
	for _, body := range []string{``, `{}`, `{"count": null}`, `{"count": -1}`, `{"count": "many"}`} {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool { _, _ = io.WriteString(w, body); return true }
		if n, err := f.client(f.start(), clRecipient, nil).Count(context.Background()); err == nil {
			t.Errorf("%s: %d, no error", body, n)
		}
	}
}
