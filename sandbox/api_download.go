package sandbox

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Download errors (NHS sandbox wording, mesh-api.md §3.7).
var (
	errDLMissing = apiError{status: http.StatusNotFound, event: "RECEIVE", code: "20", desc: "Message does not exist"}
	errDLGone    = apiError{status: http.StatusGone, event: "SEND", code: "Message already accepted", desc: "Message no longer available for download"}
	errDLNotOurs = apiError{status: http.StatusForbidden, event: "RECEIVE", code: "20", desc: "Message is not addressed to this mailbox"}
)

// download is GET and HEAD /messageexchange/{mailbox}/inbox/{id}: chunk 1.
func (a *api) download(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a.serveMessage(w, r, c, strings.ToUpper(c.params[1]), 1, r.Method == http.MethodHead)
}

// downloadChunk is GET /messageexchange/{mailbox}/inbox/{id}/{k}.
func (a *api) downloadChunk(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	k, ok := pathInt(c.params[2])
	if !ok {
		writeValidation(w, []fieldError{{Loc: []string{"path", "chunk_number"}, Msg: "value is not a valid integer", Type: "type_error.integer"}})
		return
	}
	a.serveMessage(w, r, c, strings.ToUpper(c.params[1]), k, false)
}

// serveMessage answers with chunk k of a message: 206 while more chunks
// follow, 200 for the last (or only) one; a REPORT is 200 with headers only.
// Stored bytes are streamed: a gzip chunk goes out as it is to a client that
// accepts gzip and is inflated on the fly for one that does not. Plain
// chunks are never compressed on the fly.
func (a *api) serveMessage(w http.ResponseWriter, r *http.Request, c *reqCtx, id string, k int, head bool) {
	var v chunkView
	var err error
	if head {
		v, err = a.st.headMessage(c.mailbox.ID, id)
	} else {
		v, err = a.st.openChunk(c.mailbox.ID, id, k)
	}
	if err != nil {
		a.failDownload(w, c, err)
		return
	}
	h := w.Header()
	report := v.meta.Type == mesh.MessageTypeReport
	if report || head {
		a.setMessageHeaders(h, &v, c, bodyAsStored)
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusOK)
		return
	}
	gz := v.meta.Encoding == "gzip"
	status := http.StatusOK
	if k < v.meta.Total {
		status = http.StatusPartialContent
	}
	var src io.Reader
	if v.path != "" {
		f, err := os.Open(v.path)
		if err != nil {
			// Acknowledged or purged since it was looked up.
			a.fail(w, c, errDLGone)
			return
		}
		defer f.Close()
		src = f
	} else {
		src = bytes.NewReader(v.data)
	}
	if gz && !acceptsGzip(r) {
		zr, err := getGzipReader(src)
		if err == nil {
			defer putGzipReader(zr)
			a.setMessageHeaders(h, &v, c, bodyInflated)
			w.WriteHeader(status)
			if _, readErr, _ := copyBody(w, zr); readErr != nil {
				// Cut the response short rather than end a broken stream cleanly.
				panic(http.ErrAbortHandler)
			}
			return
		}
		// Not gzip after all (the sender said it was): send what was stored.
		if seeker, ok := src.(io.Seeker); ok {
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				a.fail(w, c, errDLGone)
				return
			}
		}
	}
	body := bodyAsStored
	if gz {
		body = bodyGzip
	}
	a.setMessageHeaders(h, &v, c, body)
	if gz {
		h["Content-Encoding"] = []string{"gzip"}
	}
	h["Content-Length"] = []string{strconv.FormatInt(v.size, 10)}
	w.WriteHeader(status)
	if v.path == "" {
		_, _ = w.Write(v.data)
		return
	}
	_, _, _ = copyBody(w, src)
}

// Response header names of a download, all lower case. HTTP names are
// case-insensitive, but NHS's .NET client looks them up with a
// case-sensitive comparison against lower-case names ("mex-chunk-range",
// "mex-messageid", ...; dotnet-mesh-client Helpers/ResponseHelper.cs
// GetHeaderItemValue), and both MESH itself (the API specification's
// example responses) and NHS's mesh-sandbox (Starlette lower-cases every
// response header) send them in lower case. Go clients canonicalise
// whatever they receive, so nothing is lost for them. Standard headers
// (Content-Type, ETag, ...) keep their canonical form: net/http looks
// those up by canonical key.
var (
	rhFrom              = strings.ToLower(mesh.HeaderFrom)
	rhTo                = strings.ToLower(mesh.HeaderTo)
	rhWorkflowID        = strings.ToLower(mesh.HeaderWorkflowID)
	rhChunkRange        = strings.ToLower(mesh.HeaderChunkRange)
	rhTotalChunks       = strings.ToLower(mesh.HeaderTotalChunks)
	rhAddressType       = strings.ToLower(mesh.HeaderAddressType)
	rhLocalID           = strings.ToLower(mesh.HeaderLocalID)
	rhPartnerID         = strings.ToLower(mesh.HeaderPartnerID)
	rhFileName          = strings.ToLower(mesh.HeaderFileName)
	rhSubject           = strings.ToLower(mesh.HeaderSubject)
	rhVersion           = strings.ToLower(mesh.HeaderVersion)
	rhMessageType       = strings.ToLower(mesh.HeaderMessageType)
	rhMessageID         = strings.ToLower(mesh.HeaderMessageID)
	rhContentCompressed = strings.ToLower(mesh.HeaderContentCompressed)
	rhContentEncrypted  = strings.ToLower(mesh.HeaderContentEncrypted)
	rhChecksum          = strings.ToLower(mesh.HeaderChecksum)
	rhContentType       = strings.ToLower(mesh.HeaderContentType)
	rhLinkedMsgID       = strings.ToLower(mesh.HeaderLinkedMsgID)
	rhStatusCode        = strings.ToLower(mesh.HeaderStatusCode)
	rhStatusEvent       = strings.ToLower(mesh.HeaderStatusEvent)
	rhStatusDescription = strings.ToLower(mesh.HeaderStatusDescription)
	rhStatusSuccess     = strings.ToLower(mesh.HeaderStatusSuccess)
	rhStatusTimestamp   = strings.ToLower(mesh.HeaderStatusTimestamp)
)

// How a download's body goes out, for its headers.
const (
	bodyAsStored = iota // as stored (or no body: HEAD, REPORT)
	bodyGzip            // stored gzip, sent gzip-encoded
	bodyInflated        // stored gzip, inflated for a client that does not accept gzip
)

// setMessageHeaders writes the mex headers of a download (mesh-api.md §3.7,
// §6): empty values are left out, except the Y/N flags, which real MESH
// always sends.
func (a *api) setMessageHeaders(h http.Header, v *chunkView, c *reqCtx, body int) {
	m := &v.meta
	vals := make([]string, 0, 28)
	set := func(key, val string) {
		if val == "" {
			return
		}
		vals = append(vals, val)
		n := len(vals)
		h[key] = vals[n-1 : n : n]
	}
	report := m.Type == mesh.MessageTypeReport
	to := m.Recipient
	if report && m.ReportTo != "" {
		to = m.ReportTo
	}
	set(rhFrom, m.Sender)
	set(rhTo, to)
	set(rhWorkflowID, m.WorkflowID)
	if !report {
		// A REPORT has no chunks and says nothing about them: NHS's
		// JavaScript client keeps fetching …/{id}/{k+1} while
		// mex-chunk-range says more follow, so NHS's sandbox's "1:0"
		// would send it round for ever; without the header every NHS
		// client takes the REPORT as one piece.
		set(rhChunkRange, strconv.Itoa(v.k)+":"+strconv.Itoa(m.Total))
		set(rhTotalChunks, strconv.Itoa(m.Total))
	}
	set(rhAddressType, "ALL")
	set(rhLocalID, m.LocalID)
	set(rhPartnerID, m.PartnerID)
	fileName := m.FileName
	if fileName == "" {
		fileName = m.ID + ".dat"
	}
	set(rhFileName, fileName)
	set(rhSubject, m.Subject)
	set(rhVersion, "1.0")
	set(rhMessageType, m.Type)
	set(rhMessageID, m.ID)
	// The flag is the sender's word about the payload, except that a body
	// that goes out gzip-encoded is flagged Y, as NHS's sandbox does
	// (handlers/inbox.py): NHS's Python client reads the flag as
	// message.compressed and its own sandbox test of transparent
	// compression (mesh_sandbox_tests.py test_transparent_compression)
	// expects it set for a message sent with only Content-Encoding: gzip.
	set(rhContentCompressed, mesh.FormatFlag(m.Compressed || body == bodyGzip))
	set(rhContentEncrypted, mesh.FormatFlag(m.Encrypted))
	set(rhChecksum, m.Checksum)
	mexType := m.MexContentType
	if mexType == "" {
		mexType = m.ContentType
	}
	set(rhContentType, mexType)
	if report || m.Err != nil {
		ev := m.Err
		if ev == nil {
			ev = &statusEvent{}
		}
		set(rhLinkedMsgID, ev.LinkedMsgID)
		set(rhStatusCode, ev.Code)
		set(rhStatusEvent, ev.Event)
		set(rhStatusDescription, ev.Description)
		set(rhStatusSuccess, "ERROR")
		at := ev.Time
		if at.IsZero() {
			at = m.Delivered
		}
		set(rhStatusTimestamp, at.UTC().Format(mesh.StatusTimestampLayout))
	} else {
		set(rhStatusCode, "00")
		set(rhStatusEvent, "TRANSFER")
		set(rhStatusDescription, "Transferred to recipient mailbox")
		set(rhStatusSuccess, "SUCCESS")
		set(rhStatusTimestamp, m.Delivered.UTC().Format(mesh.StatusTimestampLayout))
	}
	etag := `"` + m.ID + "." + strconv.Itoa(v.k)
	if body == bodyInflated {
		etag += ".identity"
	}
	set("ETag", etag+`"`)
	if !m.StatusTime.IsZero() {
		set("Last-Modified", m.StatusTime.UTC().Format(http.TimeFormat))
	}
	contentType := "application/octet-stream"
	if c.v2 && m.Total == 1 && !report && mexType != "" {
		contentType = mexType
	}
	set("Content-Type", contentType)
}

func (a *api) failDownload(w http.ResponseWriter, c *reqCtx, err error) {
	switch {
	case errors.Is(err, errNoMessage):
		a.fail(w, c, errDLMissing)
	case errors.Is(err, errNotRecipient):
		a.fail(w, c, errDLNotOurs)
	case errors.Is(err, errGone):
		a.fail(w, c, errDLGone)
	case errors.Is(err, errNoChunk):
		e := errDLMissing
		e.desc = "Message chunk does not exist"
		a.fail(w, c, e)
	default:
		a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: err.Error()})
	}
}

// acceptsGzip reads Accept-Encoding: gzip (or x-gzip, or *) with a
// non-zero quality.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header[hAcceptEncoding] {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			q := strings.TrimSpace(params)
			if qv, ok := strings.CutPrefix(strings.ToLower(q), "q="); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(qv), 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

var gzipReaders sync.Pool

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

func putGzipReader(zr *gzip.Reader) { gzipReaders.Put(zr) }

// acknowledge is PUT /messageexchange/{mailbox}/inbox/{id}/status/acknowledged.
func (a *api) acknowledge(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	id := strings.ToUpper(c.params[1])
	if err := a.st.acknowledge(c.mailbox.ID, id); err != nil {
		var storage *storageError
		if errors.As(err, &storage) {
			a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: storage.Error()})
			return
		}
		a.failDownload(w, c, err)
		return
	}
	if c.v2 {
		writeEmpty(w, http.StatusOK)
		return
	}
	b := append(make([]byte, 0, 48), `{"messageId":`...)
	b = appendJSONString(b, id)
	writeBody(w, c, http.StatusOK, append(b, '}'))
}
