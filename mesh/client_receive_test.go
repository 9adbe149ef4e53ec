package mesh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// put stores a complete message in the fake directly. Chunks are stored as
// given; with encoding "gzip" each must be a gzip member.
func (f *clFake) put(from, to string, header http.Header, encoding string, chunks ...[]byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("20240101120000%06d_%06X", f.nextID, f.nextID)
	if header == nil {
		header = http.Header{}
	}
	header.Set(HeaderWorkflowID, clWorkflow)
	f.msgs[id] = &clMsg{id: id, from: from, to: to, header: header, chunks: chunks, total: len(chunks), encoding: encoding}
	f.order = append(f.order, id)
	return id
}

func TestClientDownload(t *testing.T) {
	parts := [][]byte{clPattern(1000), bytes.Repeat([]byte("second "), 100), []byte("last")}
	whole := bytes.Join(parts, nil)
	gz := func(ps [][]byte) [][]byte {
		out := make([][]byte, len(ps))
		for i, p := range ps {
			out[i] = clGzip(p)
		}
		return out
	}
	tests := []struct {
		name     string
		chunks   [][]byte
		encoding string
		onTheFly bool
		version  int
		want     []byte
		wantEnc  string
	}{
		{"single plain", parts[:1], "", false, 2, parts[0], ""},
		{"chunked plain", parts, "", false, 2, whole, ""},
		{"chunked stored gzip", gz(parts), "gzip", false, 2, whole, "gzip"},
		{"single stored gzip", gz(parts[:1]), "gzip", false, 1, parts[0], "gzip"},
		{"chunked gzip on the fly", parts, "", true, 2, whole, "gzip"},
		{"chunked v1", parts, "", false, 1, whole, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.gzipOnTheFly = tt.onTheFly
			srv := f.start()
			h := http.Header{}
			h.Set(HeaderFileName, "report.csv")
			h.Set(HeaderLocalID, "L1")
			h.Set(HeaderContentCompressed, "Y")
			id := f.put(clSender, clRecipient, h, tt.encoding, tt.chunks...)
			c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = tt.version })
			var out bytes.Buffer
			info, err := c.Download(context.Background(), id, &out)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			if !bytes.Equal(out.Bytes(), tt.want) {
				t.Fatalf("got %d bytes, want %d", out.Len(), len(tt.want))
			}
			if info.Size != int64(len(tt.want)) || info.TotalChunks != len(tt.chunks) || info.MessageID != id ||
				info.From != clSender || info.To != clRecipient || info.FileName != "report.csv" || info.LocalID != "L1" ||
				info.WorkflowID != clWorkflow || info.MessageType != MessageTypeData || info.StatusCode != "00" ||
				info.StatusSuccess != "SUCCESS" || !info.Compressed || info.Encrypted || info.ContentEncoding != tt.wantEnc ||
				!info.StatusTime.Equal(time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC)) {
				t.Errorf("info = %+v", info)
			}
			gets := f.requestsTo(http.MethodGet, "")
			if len(gets) != len(tt.chunks) {
				t.Fatalf("%d GETs for %d chunks", len(gets), len(tt.chunks))
			}
			for k, g := range gets {
				want := "/messageexchange/" + clRecipient + "/inbox/" + id
				if k > 0 {
					want += fmt.Sprintf("/%d", k+1)
				}
				if g.Path != want || g.Header.Get("Accept-Encoding") != "gzip" {
					t.Errorf("GET %d: %s (Accept-Encoding %q), want %s", k+1, g.Path, g.Header.Get("Accept-Encoding"), want)
				}
			}
		})
	}
}

func TestClientDownloadBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request) bool
		want string
	}{
		{"206 without chunk range", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = io.WriteString(w, "x")
			return true
		}, "without Mex-Chunk-Range"},
		{"unasked encoding", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Encoding", "br")
			_, _ = io.WriteString(w, "x")
			return true
		}, `Content-Encoding "br"`},
		{"bad gzip", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, "not gzip")
			return true
		}, "not valid gzip"},
		{"wrong chunk answered", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set(HeaderChunkRange, "1:2")
			if strings.HasSuffix(r.URL.Path, "/2") {
				w.Header().Set(HeaderChunkRange, "1:2")
			} else {
				w.WriteHeader(http.StatusPartialContent)
			}
			_, _ = io.WriteString(w, "x")
			return true
		}, "answer is chunk 1:2, want 2:2"},
		{"404", func(w http.ResponseWriter, r *http.Request) bool { return false }, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.hook = tt.hook
			c := f.client(f.start(), clRecipient, nil)
			_, err := c.Download(context.Background(), "20240101120000000001_00000A", io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestClientHead(t *testing.T) {
	f := newClFake(t)
	srv := f.start()
	h := http.Header{}
	h.Set(HeaderSubject, "hello")
	id := f.put(clSender, clRecipient, h, "", []byte("ab"), []byte("cd"))
	c := f.client(srv, clRecipient, nil)
	info, err := c.Head(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.MessageID != id || info.Subject != "hello" || info.TotalChunks != 2 || info.Size != 0 {
		t.Errorf("info = %+v", info)
	}
	if reqs := f.requestsTo(http.MethodHead, id); len(reqs) != 1 {
		t.Errorf("%d HEAD requests", len(reqs))
	}
	if _, err := c.Head(context.Background(), "nope"); err == nil {
		t.Error("HEAD of an unknown message succeeded")
	}
}

func TestClientReportHeaders(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		h := w.Header()
		h.Set(HeaderMessageType, "REPORT")
		h.Set(HeaderChunkRange, "1:0") // the sandbox's quirk for reports
		h.Set(HeaderTotalChunks, "0")
		h.Set(HeaderLinkedMsgID, "20240101120000000009_000009")
		h.Set(HeaderStatusCode, "14")
		h.Set(HeaderStatusSuccess, "ERROR")
		h.Set(HeaderStatusEvent, "SEND")
		h.Set(HeaderStatusDescription, "Message not collected by recipient after 5 days")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return true
	}
	c := f.client(f.start(), clRecipient, nil)
	info, err := c.Download(context.Background(), "20240101120000000010_00000A", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if info.MessageType != MessageTypeReport || info.TotalChunks != 1 || info.LinkedMessageID == "" ||
		info.StatusCode != "14" || info.StatusSuccess != "ERROR" || info.Size != 0 {
		t.Errorf("info = %+v", info)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests for a report", n)
	}
}

func TestClientAcknowledge(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			id := f.put(clSender, clRecipient, nil, "", []byte("x"))
			c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = v })
			if err := c.Acknowledge(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if !f.message(id).acked {
				t.Error("not acknowledged")
			}
			reqs := f.requestsTo(http.MethodPut, "/inbox/"+id+"/status/acknowledged")
			if len(reqs) != 1 {
				t.Errorf("%d ack requests", len(reqs))
			}
			err := c.Acknowledge(context.Background(), "20990101000000000000_FFFFFF")
			if e, ok := AsAPIError(err); !ok || e.StatusCode != http.StatusNotFound || e.Code != "20" {
				t.Errorf("unknown id: %v", err)
			}
		})
	}
}

// A v1 ack naming another message is reported.
func TestClientAcknowledgeV1WrongID(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		clWriteJSON(w, http.StatusOK, AckResponseV1{MessageID: "SOMETHING_ELSE"})
		return true
	}
	c := f.client(f.start(), clRecipient, func(cfg *Config) { cfg.APIVersion = 1 })
	if err := c.Acknowledge(context.Background(), "MSG1"); err == nil || !strings.Contains(err.Error(), "SOMETHING_ELSE") {
		t.Fatalf("err = %v", err)
	}
}
