package mesh

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// clBenchServer is a minimal MESH for benchmarks: no token checks, an
// in-memory store, so that the client's own cost dominates.
type clBenchServer struct {
	mu   sync.Mutex
	msgs map[string][]byte
	next atomic.Int64
}

func (s *clBenchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/outbox"):
		body, _ := io.ReadAll(r.Body)
		id := "20240101120000" + strconv.FormatInt(s.next.Add(1), 10) + "_ABCDEF"
		s.mu.Lock()
		s.msgs[id] = body
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"message_id":"`+id+`"}`)
	case r.Method == http.MethodGet && strings.Contains(p, "/inbox/"):
		id := p[strings.LastIndexByte(p, '/')+1:]
		s.mu.Lock()
		body := s.msgs[id]
		s.mu.Unlock()
		w.Header().Set(HeaderChunkRange, "1:1")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	case r.Method == http.MethodPut:
		id := strings.TrimSuffix(p, "/status/acknowledged")
		id = id[strings.LastIndexByte(id, '/')+1:]
		s.mu.Lock()
		delete(s.msgs, id)
		s.mu.Unlock()
	default: // handshake
		_, _ = io.Copy(io.Discard, r.Body)
	}
}

func clBenchClient(b *testing.B, useTLS bool, h http.Handler) *Client {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	cfg := Config{Credentials: clCreds(clSender)}
	if useTLS {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		cfg.TLS = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	} else {
		srv.Start()
	}
	b.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	c, err := NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkClientHandshake(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(b *testing.B) {
			c := clBenchClient(b, useTLS, &clBenchServer{msgs: map[string][]byte{}})
			b.SetParallelism(4) // 8 goroutines on 2 cores
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Handshake(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkClientSendDownloadAck(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(b *testing.B) {
			c := clBenchClient(b, useTLS, &clBenchServer{msgs: map[string][]byte{}})
			payload := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
			b.SetParallelism(4)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var out bytes.Buffer
				for pb.Next() {
					id, err := c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, bytes.NewReader(payload), int64(len(payload)))
					if err != nil {
						b.Fatal(err)
					}
					out.Reset()
					if _, err := c.Download(ctx, id, &out); err != nil {
						b.Fatal(err)
					}
					if err := c.Acknowledge(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// clBulkServer swallows uploads and serves downloads of a fixed chunk.
type clBulkServer struct {
	chunk []byte
	total int
}

func (s *clBulkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"message_id":"BULK"}`)
		return
	}
	k := 1
	if i := strings.LastIndexByte(r.URL.Path, '/'); i >= 0 {
		if n, err := strconv.Atoi(r.URL.Path[i+1:]); err == nil {
			k = n
		}
	}
	w.Header().Set(HeaderChunkRange, strconv.Itoa(k)+":"+strconv.Itoa(s.total))
	w.Header().Set("Content-Length", strconv.Itoa(len(s.chunk)))
	if k < s.total {
		w.WriteHeader(http.StatusPartialContent)
	}
	_, _ = w.Write(s.chunk)
}

const clBulkSize = 256 << 20

func BenchmarkClientUpload(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(b *testing.B) {
			c := clBenchClient(b, useTLS, &clBulkServer{})
			data := make([]byte, clBulkSize)
			b.SetBytes(clBulkSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, bytes.NewReader(data), -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkClientDownload(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(b *testing.B) {
			const chunk = 20 << 20
			c := clBenchClient(b, useTLS, &clBulkServer{chunk: make([]byte, chunk), total: clBulkSize / chunk})
			b.SetBytes(clBulkSize / chunk * chunk)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Download(context.Background(), "BULK", io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
