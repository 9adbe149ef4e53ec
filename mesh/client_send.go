package mesh

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Message is the metadata of a message to send: the headers of its first
// chunk. To and WorkflowID are required; the other headers are sent only
// when set.
type Message struct {
	To         string // mex-To: the recipient mailbox
	WorkflowID string // mex-WorkflowID
	Subject    string // mex-Subject
	// LocalID is the sender's own reference (mex-LocalID). It must not hold
	// patient-identifiable data.
	LocalID  string
	FileName string // mex-FileName
	// Checksum is passed to the recipient as is (mex-Content-Checksum),
	// e.g. "sha256:<hex>".
	Checksum string
	// ContentType is the payload's type (mex-Content-Type). A single-chunk
	// message also carries it as Content-Type.
	ContentType string
	PartnerID   string // mex-PartnerID
	// Encrypted and Compressed say that the payload itself is encrypted or
	// compressed (mex-Content-Encrypted / mex-Content-Compressed: Y). MESH
	// passes the flags on and does nothing else with them.
	Encrypted, Compressed bool
	// Gzip compresses for transport: the data is split into chunks first,
	// each chunk is gzipped on its own and sent with Content-Encoding: gzip.
	// The recipient gets the original bytes back.
	Gzip bool
	// ChunkSize overrides Config.ChunkSize for this message.
	ChunkSize int64
}

// ErrEmptyMessage is returned by Send for a body with no bytes: MESH
// rejects those (417, code 02 "data file is missing or inaccessible").
var ErrEmptyMessage = errors.New("mesh: refusing to send an empty message: MESH rejects it (417, code 02: data file is missing or inaccessible)")

// Send uploads a message and returns the id MESH gave it.
//
// size is the body's length in bytes (exactly that many are sent), or
// negative when unknown: then a body
// that is an io.Seeker is measured by seeking, and any other body is read
// one chunk ahead; a body longer than one chunk is spooled to a temporary
// file (removed afterwards) to learn its length, which the first request
// must announce (mex-Chunk-Range: 1:n).
//
// Chunks go in order: the first to …/outbox, chunks 2..n to
// …/outbox/{id}/{k}. Memory stays within one chunk whatever the message
// size; an io.ReaderAt body (a file, a bytes.Reader) is sent straight from
// its sections without copying. The first request is never retried (MESH
// would keep both copies); chunks 2..n are.
//
// When a later chunk fails, Send returns the message id with the error: the
// message exists in MESH but will not be delivered.
func (c *Client) Send(ctx context.Context, m Message, body io.Reader, size int64) (messageID string, err error) {
	if m.To == "" || m.WorkflowID == "" {
		return "", errors.New("mesh: Send needs Message.To and Message.WorkflowID")
	}
	chunkSize := m.ChunkSize
	if chunkSize <= 0 {
		chunkSize = c.chunkSize
	}
	src, err := openSource(body, size, chunkSize)
	if err != nil {
		return "", err
	}
	defer src.close()
	if src.size == 0 {
		return "", ErrEmptyMessage
	}
	total := (src.size + chunkSize - 1) / chunkSize
	if total > maxChunkCount {
		return "", fmt.Errorf("mesh: %d bytes in chunks of %d would make %d chunks: use a larger chunk size", src.size, chunkSize, total)
	}
	n := int(total)
	up := uploader{c: c, src: src, gzip: m.Gzip, chunkSize: chunkSize, total: n}
	defer up.release()
	messageID, err = up.first(ctx, m.header(n))
	if err != nil {
		return "", err
	}
	for k := 2; k <= n; k++ {
		if err := up.next(ctx, messageID, k); err != nil {
			return messageID, err
		}
	}
	if err := src.finish(); err != nil {
		return messageID, err
	}
	return messageID, nil
}

// maxChunkCount keeps chunk numbers well inside an int and the 20-character
// limit of mex-Chunk-Range.
const maxChunkCount = 1 << 30

// header is the first chunk's headers. A single-chunk message also carries
// its content type as Content-Type, as NHS's client does.
func (m Message) header(total int) http.Header {
	// Room for the headers below and the three do adds, without regrowth.
	h := make(http.Header, 8+countSet(m.Subject, m.LocalID, m.FileName, m.Checksum, m.ContentType, m.PartnerID))
	h[hdrMexTo] = []string{m.To}
	h[hdrMexWorkflowID] = []string{m.WorkflowID}
	h[hdrMexChunkRange] = []string{"1:" + strconv.Itoa(total)}
	h[hdrContentType] = []string{octetStream}
	if total == 1 && m.ContentType != "" {
		h[hdrContentType] = []string{m.ContentType}
	}
	if m.Gzip {
		h[hdrContentEncoding] = []string{"gzip"}
	}
	opt := func(name, v string) {
		if v != "" {
			h.Set(name, v)
		}
	}
	opt(HeaderSubject, m.Subject)
	opt(HeaderLocalID, m.LocalID)
	opt(HeaderFileName, m.FileName)
	opt(HeaderChecksum, m.Checksum)
	opt(HeaderContentType, m.ContentType)
	opt(HeaderPartnerID, m.PartnerID)
	if m.Encrypted {
		h.Set(HeaderContentEncrypted, FormatFlag(true))
	}
	if m.Compressed {
		h.Set(HeaderContentCompressed, FormatFlag(true))
	}
	return h
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// source is a message body with a known size, read either at offsets
// (ra) or in order (r).
type source struct {
	size int64
	// ra and base: chunks are the sections [base+off, base+off+len).
	ra   io.ReaderAt
	base int64
	// seeker is ra when it can seek: after a successful send it is moved
	// past the body, as if it had been read.
	seeker io.Seeker
	r      io.Reader
	// spool is the temporary file of a spooled body.
	spool *os.File
}

// openSource works out the body's size and how its chunks will be read.
func openSource(body io.Reader, size, chunkSize int64) (*source, error) {
	if body == nil {
		body = bytes.NewReader(nil)
	}
	ra, isRA := body.(io.ReaderAt)
	seeker, isSeeker := body.(io.Seeker)
	var pos int64
	if isSeeker && (isRA || size < 0) {
		var err error
		if pos, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			// A pipe behind an *os.File: it can neither seek nor ReadAt,
			// so it is read in order.
			isSeeker, isRA = false, false
		}
	}
	if size < 0 && isSeeker {
		end, err := seeker.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = seeker.Seek(pos, io.SeekStart)
		}
		if err != nil {
			return nil, fmt.Errorf("mesh: measuring the message body: %w", err)
		}
		size = max(end-pos, 0)
	}
	if size >= 0 {
		if isRA {
			s := &source{size: size, ra: ra, base: pos}
			if isSeeker {
				s.seeker = seeker
			}
			return s, nil
		}
		return &source{size: size, r: body}, nil
	}
	return spoolSource(body, chunkSize)
}

// spoolSource reads a body of unknown length: up to one chunk stays in
// memory; a longer body goes to a temporary file.
func spoolSource(body io.Reader, chunkSize int64) (*source, error) {
	var head bytes.Buffer
	n, err := head.ReadFrom(io.LimitReader(body, chunkSize+1))
	if err != nil {
		return nil, fmt.Errorf("mesh: reading the message body: %w", err)
	}
	if n <= chunkSize {
		return &source{size: n, ra: bytes.NewReader(head.Bytes())}, nil
	}
	f, err := os.CreateTemp("", "meshdoctor-send-*")
	if err != nil {
		return nil, fmt.Errorf("mesh: spooling a message of unknown size: %w", err)
	}
	s := &source{ra: f, spool: f}
	if _, err := head.WriteTo(f); err != nil {
		s.close()
		return nil, fmt.Errorf("mesh: spooling a message of unknown size: %w", err)
	}
	rest, err := io.Copy(f, body)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("mesh: spooling a message of unknown size: %w", err)
	}
	s.size = n + rest
	return s, nil
}

// finish leaves a seekable body positioned after the message.
func (s *source) finish() error {
	if s.seeker == nil {
		return nil
	}
	if _, err := s.seeker.Seek(s.base+s.size, io.SeekStart); err != nil {
		return fmt.Errorf("mesh: message sent, but moving the body past it failed: %w", err)
	}
	return nil
}

func (s *source) close() {
	if s.spool != nil {
		_ = s.spool.Close()
		_ = os.Remove(s.spool.Name())
	}
}

// uploader sends the chunks of one message.
type uploader struct {
	c         *Client
	src       *source
	gzip      bool
	chunkSize int64
	total     int
	buf       chunkBuffer
	gz        *gzip.Writer
	copyBuf   *[]byte
}

// first POSTs chunk 1 to the outbox and returns the message id. It is
// never retried.
func (u *uploader) first(ctx context.Context, header http.Header) (string, error) {
	c := u.c
	r := &request{method: http.MethodPost, path: c.mailboxPath + "/outbox", header: header}
	if err := u.prepare(r, 1); err != nil {
		return "", err
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return "", err
	}
	buf, err := c.readBody(r, resp)
	if err != nil {
		return "", fmt.Errorf("%w (MESH answered %d, so it may hold the message; its id is unknown)", err, resp.StatusCode)
	}
	defer c.putBuf(buf)
	if err := c.sendError(r, resp, buf.Bytes()); err != nil {
		return "", err
	}
	// v1 names the id messageID and v2 message_id (mesh-api.md §3.3), but
	// servers and versions mix them up: either is taken whichever version
	// was asked for, then the Mex-MessageID header if the body has none.
	var v struct {
		V1 string `json:"messageID"` // also matches messageId: Go matches keys without regard to case
		V2 string `json:"message_id"`
	}
	jsonErr := c.decodeJSON(r, resp, buf.Bytes(), &v)
	id := strings.TrimSpace(firstNonEmpty(v.V1, v.V2))
	if id == "" {
		id = strings.TrimSpace(headerValue(resp.Header, HeaderMessageID))
	}
	switch {
	case id != "":
		return id, nil
	case jsonErr != nil:
		return "", fmt.Errorf("%w (MESH answered %d, so it may hold the message; its id is unknown)", jsonErr, resp.StatusCode)
	}
	return "", fmt.Errorf("%s %s: %d answer has no message id (body: %s); MESH may hold the message, its id is unknown", r.method, r.path, resp.StatusCode, c.excerpt(r, buf.Bytes()))
}

// next POSTs chunk k (2..n), with retries.
func (u *uploader) next(ctx context.Context, messageID string, k int) error {
	c := u.c
	h := make(http.Header, 6)
	h[hdrMexChunkRange] = []string{strconv.Itoa(k) + ":" + strconv.Itoa(u.total)}
	h[hdrContentType] = []string{octetStream}
	if u.gzip {
		h[hdrContentEncoding] = u.c.gzipOnly
	}
	r := &request{
		method: http.MethodPost,
		path:   c.mailboxPath + "/outbox/" + url.PathEscape(messageID) + "/" + strconv.Itoa(k),
		header: h,
		retry:  true,
	}
	if err := u.prepare(r, k); err != nil {
		return err
	}
	_, buf, err := c.exchange(ctx, r)
	if err != nil {
		return err
	}
	c.putBuf(buf)
	return nil
}

// exchange sends r and reads the answer's body, treating a 2xx whose body
// carries a MESH error as the error it is. The caller puts buf back.
func (c *Client) exchange(ctx context.Context, r *request) (*http.Response, *bytes.Buffer, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	buf, err := c.readBody(r, resp)
	if err != nil {
		return nil, nil, err
	}
	if err := c.sendError(r, resp, buf.Bytes()); err != nil {
		c.putBuf(buf)
		return nil, nil, err
	}
	return resp, buf, nil
}

// prepare sets r's body to chunk k: a section of a ReaderAt when the data
// can go as it is, otherwise the chunk read (and compressed) into the
// reusable buffer.
func (u *uploader) prepare(r *request, k int) error {
	off := int64(k-1) * u.chunkSize
	n := min(u.chunkSize, u.src.size-off)
	src := u.src
	switch {
	case !u.gzip && src.ra != nil:
		ra, at := src.ra, src.base+off
		r.body = func() io.ReadCloser { return io.NopCloser(io.NewSectionReader(ra, at, n)) }
		r.length = n
		return nil
	case !u.gzip:
		p := u.buf.take(int(n))
		if got, err := io.ReadFull(src.r, p); err != nil {
			return shortBody(err, off+int64(got), src.size)
		}
		r.body, r.length = u.buf.bodyOf(p), n
		return nil
	}
	// gzip: compress the piece straight from its source into the buffer.
	if u.gz == nil {
		u.gz = u.c.getGzipWriter()
		u.copyBuf = u.c.getCopyBuf()
	}
	w := &sliceWriter{b: u.buf.take(0)}
	u.gz.Reset(w)
	var in io.Reader
	if src.ra != nil {
		in = io.NewSectionReader(src.ra, src.base+off, n)
	} else {
		in = io.LimitReader(src.r, n)
	}
	got, err := io.CopyBuffer(u.gz, in, *u.copyBuf)
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return shortBody(err, off+got, src.size)
	}
	if err := u.gz.Close(); err != nil {
		return fmt.Errorf("mesh: compressing chunk %d: %w", k, err)
	}
	u.buf.keep(w.b)
	r.body, r.length = u.buf.bodyOf(w.b), int64(len(w.b))
	return nil
}

// release returns the compressor and its buffer to the client's pools.
func (u *uploader) release() {
	if u.gz != nil {
		u.gz.Reset(io.Discard)
		u.c.gzWriter.Put(u.gz)
		u.c.copyBufs.Put(u.copyBuf)
	}
}

func (c *Client) getGzipWriter() *gzip.Writer {
	if w, ok := c.gzWriter.Get().(*gzip.Writer); ok {
		return w
	}
	// Speed over ratio: transport compression must keep up with the link.
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}

func shortBody(err error, got, size int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("mesh: the message body ended after %d of the %d bytes announced", got, size)
	}
	return fmt.Errorf("mesh: reading the message body: %w", err)
}

// sendError reports a 2xx answer to an upload whose body is a MESH error
// anyway (errorDescription or detail), as NHS's client does.
func (c *Client) sendError(r *request, resp *http.Response, body []byte) error {
	if !bytes.Contains(body, []byte(`"errorDescription"`)) && !bytes.Contains(body, []byte(`"detail"`)) {
		return nil
	}
	e := c.decodeError(r, resp.StatusCode, body)
	if e.Description == "" && e.Code == "" && e.Event == "" {
		return nil
	}
	return e
}

// chunkBuffer is the memory of one chunk, reused from chunk to chunk. The
// transport may read a request body after the answer has arrived, so the
// readers handed out are counted and the memory is reused only when none is
// open; otherwise a fresh buffer is taken.
type chunkBuffer struct {
	b    []byte
	open *atomic.Int32
}

// take returns n bytes that no earlier request can still be reading.
func (cb *chunkBuffer) take(n int) []byte {
	if cb.open == nil || cb.open.Load() != 0 || cap(cb.b) < n {
		cb.b = make([]byte, n)
		cb.open = new(atomic.Int32)
	}
	return cb.b[:n]
}

// keep records p, grown from the slice take returned, as the buffer.
func (cb *chunkBuffer) keep(p []byte) { cb.b = p[:0] }

// bodyOf makes fresh readers of p for each attempt.
func (cb *chunkBuffer) bodyOf(p []byte) func() io.ReadCloser {
	open := cb.open
	return func() io.ReadCloser {
		open.Add(1)
		return &countedReader{Reader: bytes.NewReader(p), open: open}
	}
}

type countedReader struct {
	*bytes.Reader
	open   *atomic.Int32
	closed atomic.Bool
}

func (r *countedReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.open.Add(-1)
	}
	return nil
}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
