package mesh

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MessageInfo is what the headers of a download (or HEAD) say about a
// message.
type MessageInfo struct {
	MessageID   string // Mex-MessageID
	From        string // Mex-From
	To          string // Mex-To
	WorkflowID  string // Mex-WorkflowID
	Subject     string // Mex-Subject
	LocalID     string // Mex-LocalID
	FileName    string // Mex-FileName
	Checksum    string // Mex-Content-Checksum
	ContentType string // Mex-Content-Type, else Content-Type
	PartnerID   string // Mex-PartnerID
	// MessageType is DATA or REPORT. A REPORT tells the sender that an
	// earlier message (LinkedMessageID) failed; it has no body.
	MessageType       string
	StatusCode        string // Mex-StatusCode: "00" for success
	StatusEvent       string // Mex-StatusEvent
	StatusDescription string // Mex-StatusDescription
	StatusSuccess     string // Mex-StatusSuccess: SUCCESS or ERROR
	LinkedMessageID   string // Mex-LinkedMsgID (reports)
	// StatusTime is Mex-StatusTimestamp (UTC); zero when absent or unreadable.
	StatusTime time.Time
	// TotalChunks is the number of chunks (1 for a single-chunk message).
	TotalChunks int
	// Compressed and Encrypted are the mex-Content-Compressed and
	// mex-Content-Encrypted flags: the sender's word about the payload.
	Compressed, Encrypted bool
	// ContentEncoding is the Content-Encoding of the first answer, as MESH
	// sent it; Download decodes gzip itself.
	ContentEncoding string
	// Size is the number of bytes Download wrote (after decoding); 0 for Head.
	Size int64
}

// messageInfo reads the message headers of an answer, whatever the case
// of their names.
func messageInfo(h http.Header) MessageInfo {
	get := func(name string) string { return strings.TrimSpace(headerValue(h, name)) }
	info := MessageInfo{
		MessageID:         get(HeaderMessageID),
		From:              get(HeaderFrom),
		To:                get(HeaderTo),
		WorkflowID:        get(HeaderWorkflowID),
		Subject:           get(HeaderSubject),
		LocalID:           get(HeaderLocalID),
		FileName:          get(HeaderFileName),
		Checksum:          get(HeaderChecksum),
		ContentType:       get(HeaderContentType),
		PartnerID:         get(HeaderPartnerID),
		MessageType:       strings.ToUpper(get(HeaderMessageType)),
		StatusCode:        get(HeaderStatusCode),
		StatusEvent:       get(HeaderStatusEvent),
		StatusDescription: get(HeaderStatusDescription),
		StatusSuccess:     get(HeaderStatusSuccess),
		LinkedMessageID:   get(HeaderLinkedMsgID),
		Compressed:        ParseFlag(get(HeaderContentCompressed)),
		Encrypted:         ParseFlag(get(HeaderContentEncrypted)),
		ContentEncoding:   get(hdrContentEncoding),
		TotalChunks:       chunkTotal(h),
	}
	if info.ContentType == "" {
		info.ContentType = get(hdrContentType)
	}
	// yyyyMMddHHmmss on real MESH; ISO 8601 is read too.
	info.StatusTime = parseMeshTime(get(HeaderStatusTimestamp))
	return info
}

// chunkTotal is the message's chunk count from Mex-Chunk-Range, else
// Mex-Total-Chunks, else 1. A REPORT may say "1:0" and "0" (the sandbox
// does): it is one answer, so 1.
func chunkTotal(h http.Header) int {
	if cr, ok := answerChunkRange(h); ok {
		return cr.Total
	}
	if n, err := strconv.Atoi(strings.TrimSpace(headerValue(h, HeaderTotalChunks))); err == nil && n > 1 {
		return n
	}
	return 1
}

// answerChunkRange reads the Mex-Chunk-Range of an answer, allowing the
// white space ParseChunkRange refuses in a request ("1 : 2").
func answerChunkRange(h http.Header) (ChunkRange, bool) {
	v := strings.Join(strings.Fields(headerValue(h, HeaderChunkRange)), "")
	cr, err := ParseChunkRange(v)
	return cr, err == nil
}

func (c *Client) inboxPath(id string) string {
	return c.mailboxPath + "/inbox/" + url.PathEscape(id)
}

// downloadHeader asks for gzip: MESH may then send stored gzip chunks as
// they are, and Download inflates them.
func (c *Client) downloadHeader() http.Header {
	h := make(http.Header, 4)
	h[hdrAcceptEncoding] = c.gzipOnly
	return h
}

// Head returns a message's headers without its body.
func (c *Client) Head(ctx context.Context, id string) (MessageInfo, error) {
	r := &request{method: http.MethodHead, path: c.inboxPath(id), header: c.downloadHeader(), retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return MessageInfo{}, err
	}
	drainClose(resp.Body)
	return messageInfo(resp.Header), nil
}

// Download writes a message's payload to w, every chunk in order: the first
// from …/inbox/{id} (206 with Mex-Chunk-Range 1:n when more follow, else
// 200), then …/inbox/{id}/{k}. gzip-encoded answers are inflated as they
// stream, so w gets the payload as sent. It returns the first answer's
// headers, with Size set to the bytes written. A chunk that fails before
// its body starts is retried; a failure after w has had data is returned.
func (c *Client) Download(ctx context.Context, id string, w io.Writer) (MessageInfo, error) {
	base := c.inboxPath(id)
	r := &request{method: http.MethodGet, path: base, header: c.downloadHeader(), retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return MessageInfo{}, err
	}
	info := messageInfo(resp.Header)
	if resp.StatusCode == http.StatusPartialContent && headerValue(resp.Header, HeaderChunkRange) == "" && headerValue(resp.Header, HeaderTotalChunks) == "" {
		drainClose(resp.Body)
		return info, fmt.Errorf("%s %s: 206 Partial Content without %s: cannot tell how many chunks follow", r.method, r.path, HeaderChunkRange)
	}
	d := decoder{c: c}
	defer d.release()
	n, err := d.copy(w, resp, r, 1)
	info.Size = n
	if err != nil {
		return info, err
	}
	for k := 2; k <= info.TotalChunks; k++ {
		r := &request{method: http.MethodGet, path: base + "/" + strconv.Itoa(k), header: c.downloadHeader(), retry: true}
		resp, err := c.do(ctx, r)
		if err != nil {
			return info, err
		}
		if cr, ok := answerChunkRange(resp.Header); ok && (cr.Index != k || cr.Total != info.TotalChunks) {
			drainClose(resp.Body)
			return info, fmt.Errorf("%s %s: answer is chunk %s, want %d:%d", r.method, r.path, cr, k, info.TotalChunks)
		}
		n, err := d.copy(w, resp, r, k)
		info.Size += n
		if err != nil {
			return info, err
		}
	}
	return info, nil
}

// decoder streams answer bodies to a writer, inflating gzip, with buffers
// borrowed from the client for the length of one download.
type decoder struct {
	c   *Client
	gz  *gzip.Reader
	buf *[]byte
}

// copy writes one chunk's decoded body to w and closes it.
func (d *decoder) copy(w io.Writer, resp *http.Response, r *request, k int) (int64, error) {
	defer drainClose(resp.Body)
	if d.buf == nil {
		d.buf = d.c.getCopyBuf()
	}
	var src io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(headerValue(resp.Header, hdrContentEncoding))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if err := d.gzipReader(resp.Body); err != nil {
			if errors.Is(err, io.EOF) {
				// No body at all (a REPORT, an empty chunk): nothing to
				// inflate, whatever the header says.
				return 0, nil
			}
			return 0, fmt.Errorf("%s %s: chunk %d is not valid gzip: %w", r.method, r.path, k, err)
		}
		src = d.gz
	default:
		return 0, fmt.Errorf("%s %s: chunk %d has Content-Encoding %q, which the client did not ask for", r.method, r.path, k, enc)
	}
	n, err := io.CopyBuffer(w, src, *d.buf)
	if err != nil {
		return n, fmt.Errorf("%s %s: copying chunk %d after %d bytes: %w", r.method, r.path, k, n, err)
	}
	return n, nil
}

func (d *decoder) gzipReader(body io.Reader) error {
	if d.gz == nil {
		if zr, ok := d.c.gzReader.Get().(*gzip.Reader); ok {
			d.gz = zr
		} else {
			zr, err := gzip.NewReader(body)
			if err != nil {
				return err
			}
			d.gz = zr
			return nil
		}
	}
	return d.gz.Reset(body)
}

func (d *decoder) release() {
	if d.buf != nil {
		d.c.copyBufs.Put(d.buf)
	}
	if d.gz != nil {
		d.c.gzReader.Put(d.gz)
	}
}

// Acknowledge tells MESH the message has been received: it leaves the
// inbox and the sender's tracking shows it acknowledged.
func (c *Client) Acknowledge(ctx context.Context, id string) error {
	r := &request{method: http.MethodPut, path: c.inboxPath(id) + "/status/acknowledged", retry: true}
	resp, buf, err := c.exchange(ctx, r)
	if err != nil {
		return err
	}
	defer c.putBuf(buf)
	if c.version == 1 {
		// v1 answers {"messageId": id}; v2 has no body.
		var v AckResponseV1
		if err := c.decodeJSON(r, resp, buf.Bytes(), &v); err != nil {
			return err
		}
		if v.MessageID != "" && !strings.EqualFold(v.MessageID, id) {
			return fmt.Errorf("%s %s: MESH acknowledged message %q instead", r.method, r.path, v.MessageID)
		}
	}
	return nil
}
