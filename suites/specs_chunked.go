package suites

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// chunkedSpecs send one message in three chunks and read it back chunk by
// chunk.
func (s *suite) chunkedSpecs() {
	ginkgo.Describe("a chunked message", ginkgo.Offset(1), ginkgo.Ordered, ginkgo.ContinueOnFailure, func() {
		var (
			id       string
			seed     string
			size     int64
			total    int
			sendTook time.Duration

			sent      = step{name: "send the chunked message"}
			delivered = step{name: "wait for the chunked message in the recipient's inbox"}
		)
		doSend := func(ctx context.Context) {
			s.need(&sent, func() error {
				// Generated as it is sent, never held whole: a chunk may be
				// up to 100 MB.
				chunk := s.e.opts.ChunkSize
				seed, size = s.e.runID+"-chunked", 2*chunk+chunk/2
				total = 3
				var err error
				start := time.Now()
				id, err = s.e.sendStream(ctx, s.e.sender, mesh.Message{
					LocalID:     s.e.localID("chunked"),
					FileName:    "meshdoctor-conform-chunked.txt",
					ContentType: "text/plain",
					Checksum:    "sha256:" + payloadSHA256(seed, size),
				}, newPayloadReader(seed, size), size)
				sendTook = time.Since(start)
				return err
			})
		}
		doDeliver := func(ctx context.Context) {
			doSend(ctx)
			s.need(&delivered, func() error { return s.awaitDelivery(ctx, id) })
		}
		ginkgo.AfterAll(func() {
			if id != "" {
				s.e.ackQuietly(id)
			}
		})
		chunkPath := func(k int) string {
			p := mailboxPath(s.e.recipient()) + "/inbox/" + url.PathEscape(id)
			if k > 1 {
				p += "/" + strconv.Itoa(k)
			}
			return p
		}

		s.spec("MESH-CHUNK-001",
			"MESH MUST accept a message uploaded in several chunks (chunk 1 to …/outbox with mex-Chunk-Range 1:n, chunk k to …/outbox/{id}/{k} with k:n), answering 202 to each.",
			labels(LabelSend, LabelChunked),
			func(ctx context.Context) {
				doSend(ctx)
				entry("message_id", id)
				entry("chunks", total)
				entry("chunk_size", s.e.opts.ChunkSize)
				entry("upload_mib_per_s", mibPerSecond(size, sendTook))
			})

		s.spec("MESH-CHUNK-002",
			"MESH MUST serve a chunked message chunk by chunk: 206 Partial Content with mex-Chunk-Range k:n for every chunk but the last, 200 with n:n for the last.",
			labels(LabelReceive, LabelChunked),
			func(ctx context.Context) {
				doDeliver(ctx)
				var seen []string
				for k := 1; k <= total; k++ {
					r, err := s.e.rawDo(ctx, s.e.receiveCreds(), http.MethodGet, chunkPath(k), nil, nil, "")
					if err != nil {
						s.failf("download chunk %d: %s", k, oneLine(err.Error()))
					}
					cr := strings.Join(strings.Fields(r.Header.Get(mesh.HeaderChunkRange)), "")
					seen = append(seen, fmt.Sprintf("%d %s", r.Status, cr))
					want := http.StatusPartialContent
					if k == total {
						want = http.StatusOK
					}
					if r.Status != want {
						entry("answers", strings.Join(seen, ", "))
						s.failf("chunk %d of %d answered %d; it MUST answer %d %s", k, total, r.Status, want, http.StatusText(want))
					}
					if wantCR := fmt.Sprintf("%d:%d", k, total); cr != wantCR {
						entry("answers", strings.Join(seen, ", "))
						s.failf("chunk %d of %d answered mex-Chunk-Range %q, want %q", k, total, cr, wantCR)
					}
				}
				entry("answers", strings.Join(seen, ", "))
			})

		s.spec("MESH-CHUNK-003",
			"MESH MUST deliver the chunks of a chunked message so that, joined in order, they equal what was sent.",
			labels(LabelReceive, LabelChunked),
			func(ctx context.Context) {
				doDeliver(ctx)
				// Compared as it arrives, never held whole.
				got := newMatcher(seed, size)
				start := time.Now()
				info, err := s.e.receive.Download(ctx, id, got)
				took := time.Since(start)
				if err != nil {
					s.failf("download: %s", oneLine(err.Error()))
				}
				entry("chunks", info.TotalChunks)
				entry("bytes", got.n)
				entry("download_mib_per_s", mibPerSecond(got.n, took))
				if !got.equal() {
					s.failf("the %d chunks joined make %d bytes (SHA-256 %.12s…), not the %d sent (SHA-256 %.12s…)",
						info.TotalChunks, got.n, got.sha256Hex(), size, payloadSHA256(seed, size))
				}
			})

		s.spec("MESH-CHUNK-004",
			"MESH MUST refuse a download of a chunk beyond a message's last chunk with a 4xx status.",
			labels(LabelReceive, LabelChunked, LabelNegative),
			func(ctx context.Context) {
				doDeliver(ctx)
				r, err := s.e.rawDo(ctx, s.e.receiveCreds(), http.MethodGet, chunkPath(total+1), nil, nil, "")
				if err != nil {
					s.failf("download chunk %d: %s", total+1, oneLine(err.Error()))
				}
				entry("status", r.Status)
				if r.Status < 400 || r.Status >= 500 {
					s.failf("MESH answered %d to a download of chunk %d of a %d-chunk message; it MUST refuse it with a 4xx status", r.Status, total+1, total)
				}
			})

		s.spec("MESH-CHUNK-005",
			"MESH MUST refuse a chunk uploaded to a message whose last chunk has already arrived (423 Locked, or another 4xx status).",
			labels(LabelSend, LabelChunked, LabelNegative),
			func(ctx context.Context) {
				doDeliver(ctx)
				path := mailboxPath(s.e.mailbox()) + "/outbox/" + url.PathEscape(id) + "/" + strconv.Itoa(total)
				h := http.Header{mesh.HeaderChunkRange: {fmt.Sprintf("%d:%d", total, total)}, "Content-Type": {"application/octet-stream"}}
				r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, path, h, []byte("meshdoctor: a chunk too late\n"), "")
				if err != nil {
					s.failf("upload chunk %d again: %s", total, oneLine(err.Error()))
				}
				entry("status", r.Status)
				if r.Status < 400 || r.Status >= 500 {
					s.failf("MESH answered %d to chunk %d of a message already complete; it MUST refuse it with 423 Locked or another 4xx status", r.Status, total)
				}
			})

		s.spec("MESH-CHUNK-006",
			"MESH MUST NOT deliver a chunked message to the recipient's inbox before its last chunk has been uploaded.",
			labels(LabelSend, LabelReceive, LabelChunked),
			func(ctx context.Context) {
				parts := [][]byte{payload(s.e.runID+"-partial-1", 1024), payload(s.e.runID+"-partial-2", 512)}
				h := http.Header{
					mesh.HeaderTo:         {s.e.recipient()},
					mesh.HeaderWorkflowID: {s.e.workflow()},
					mesh.HeaderLocalID:    {s.e.localID("partial")},
					mesh.HeaderSubject:    {s.e.subject()},
					mesh.HeaderChunkRange: {"1:2"},
					"Content-Type":        {"application/octet-stream"},
				}
				r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox())+"/outbox", h, parts[0], "")
				if err != nil {
					s.failf("upload chunk 1 of 2: %s", oneLine(err.Error()))
				}
				pid := sentID(r.Body)
				if r.Status != http.StatusAccepted || pid == "" {
					s.failf("MESH answered %d to chunk 1 of 2 (%s); want 202 with a message id", r.Status, excerpt(r.Body))
				}
				s.e.ledger.add(pid)
				ginkgo.DeferCleanup(func() { s.e.ackQuietly(pid) })
				entry("message_id", pid)
				in, err := s.listed(ctx, s.e.receive, pid)
				if err != nil {
					s.failf("list inbox: %s", oneLine(err.Error()))
				}
				if in {
					s.failf("message %s is in the recipient's inbox after chunk 1 of 2", pid)
				}
				h = http.Header{mesh.HeaderChunkRange: {"2:2"}, "Content-Type": {"application/octet-stream"}}
				r, err = s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox())+"/outbox/"+url.PathEscape(pid)+"/2", h, parts[1], "")
				if err != nil {
					s.failf("upload chunk 2 of 2: %s", oneLine(err.Error()))
				}
				if r.Status != http.StatusAccepted {
					s.failf("MESH answered %d to chunk 2 of 2 (%s); want 202", r.Status, excerpt(r.Body))
				}
				if err := s.awaitDelivery(ctx, pid); err != nil {
					s.failf("after its last chunk: %s", oneLine(err.Error()))
				}
			})
	})
}

// mibPerSecond is a throughput for a report entry.
func mibPerSecond[N int | int64](n N, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(n)/(1<<20)/d.Seconds(), 'f', 1, 64)
}

// compressionSpecs send gzip-encoded messages, single and chunked, and
// check the recipient gets the original bytes.
func (s *suite) compressionSpecs() {
	ginkgo.Describe("gzip transport compression", ginkgo.Offset(1), func() {
		// roundTrip generates the body as it sends it and compares the
		// download as it arrives: the chunked one may be a few 100 MB.
		roundTrip := func(ctx context.Context, purpose string, size int64, chunk int64) {
			seed := s.e.runID + "-" + purpose
			id, err := s.e.sendStream(ctx, s.e.sender, mesh.Message{
				LocalID:     s.e.localID(purpose),
				FileName:    "meshdoctor-conform-" + purpose + ".txt",
				ContentType: "text/plain",
				Gzip:        true,
				ChunkSize:   chunk,
			}, newPayloadReader(seed, size), size)
			if id != "" {
				ginkgo.DeferCleanup(func() { s.e.ackQuietly(id) })
			}
			if err != nil {
				s.failf("send with Content-Encoding: gzip: %s", oneLine(err.Error()))
			}
			entry("message_id", id)
			if err := s.awaitDelivery(ctx, id); err != nil {
				s.failf("%s", oneLine(err.Error()))
			}
			got := newMatcher(seed, size)
			info, err := s.e.receive.Download(ctx, id, got)
			if err != nil {
				s.failf("download: %s", oneLine(err.Error()))
			}
			entry("download_content_encoding", orNone(info.ContentEncoding))
			entry("chunks", info.TotalChunks)
			if !got.equal() {
				s.failf("the recipient got %d bytes (SHA-256 %.12s…), not the %d sent gzip-encoded (SHA-256 %.12s…)",
					got.n, got.sha256Hex(), size, payloadSHA256(seed, size))
			}
		}

		s.spec("MESH-GZIP-001",
			"MESH MUST accept a message sent with Content-Encoding: gzip and deliver the original bytes to the recipient (gzip-encoded only when the recipient accepts gzip).",
			labels(LabelSend, LabelReceive, LabelCompression),
			func(ctx context.Context) { roundTrip(ctx, "gzip", 8192, 0) })

		s.spec("MESH-GZIP-002",
			"MESH MUST accept a chunked message whose chunks are each gzip-encoded and deliver the original bytes, joined in order.",
			labels(LabelSend, LabelReceive, LabelCompression, LabelChunked),
			func(ctx context.Context) {
				chunk := s.e.opts.ChunkSize
				roundTrip(ctx, "gzip-chunked", 2*chunk+chunk/3, chunk)
			})
	})
}
