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
	gz := v.meta.Encoding == "gzip" && !report
	inflate := gz && !acceptsGzip(r)
	a.setMessageHeaders(h, &v, c, inflate)
	if report || head {
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusOK)
		return
	}
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
	if inflate {
		zr, err := getGzipReader(src)
		if err == nil {
			defer putGzipReader(zr)
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
		inflate = false
		a.setMessageHeaders(h, &v, c, false)
	}
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

// setMessageHeaders writes the mex headers of a download (mesh-api.md §3.7,
// §6): empty values are left out, except the Y/N flags, which real MESH
// always sends.
func (a *api) setMessageHeaders(h http.Header, v *chunkView, c *reqCtx, inflated bool) {
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
	set(mesh.HeaderFrom, m.Sender)
	set(mesh.HeaderTo, to)
	set(mesh.HeaderWorkflowID, m.WorkflowID)
	if !report {
		set(mesh.HeaderChunkRange, strconv.Itoa(v.k)+":"+strconv.Itoa(m.Total))
		set(mesh.HeaderTotalChunks, strconv.Itoa(m.Total))
	}
	set(mesh.HeaderAddressType, "ALL")
	set(mesh.HeaderLocalID, m.LocalID)
	set(mesh.HeaderPartnerID, m.PartnerID)
	fileName := m.FileName
	if fileName == "" {
		fileName = m.ID + ".dat"
	}
	set(mesh.HeaderFileName, fileName)
	set(mesh.HeaderSubject, m.Subject)
	set(mesh.HeaderVersion, "1.0")
	set(mesh.HeaderMessageType, m.Type)
	set(mesh.HeaderMessageID, m.ID)
	set(mesh.HeaderContentCompressed, mesh.FormatFlag(m.Compressed))
	set(mesh.HeaderContentEncrypted, mesh.FormatFlag(m.Encrypted))
	set(mesh.HeaderChecksum, m.Checksum)
	mexType := m.MexContentType
	if mexType == "" {
		mexType = m.ContentType
	}
	set(mesh.HeaderContentType, mexType)
	if report || m.Err != nil {
		ev := m.Err
		if ev == nil {
			ev = &statusEvent{}
		}
		set(mesh.HeaderLinkedMsgID, ev.LinkedMsgID)
		set(mesh.HeaderStatusCode, ev.Code)
		set(mesh.HeaderStatusEvent, ev.Event)
		set(mesh.HeaderStatusDescription, ev.Description)
		set(mesh.HeaderStatusSuccess, "ERROR")
		at := ev.Time
		if at.IsZero() {
			at = m.Delivered
		}
		set(mesh.HeaderStatusTimestamp, at.UTC().Format(mesh.StatusTimestampLayout))
	} else {
		set(mesh.HeaderStatusCode, "00")
		set(mesh.HeaderStatusEvent, "TRANSFER")
		set(mesh.HeaderStatusDescription, "Transferred to recipient mailbox")
		set(mesh.HeaderStatusSuccess, "SUCCESS")
		set(mesh.HeaderStatusTimestamp, m.Delivered.UTC().Format(mesh.StatusTimestampLayout))
	}
	etag := `"` + m.ID + "." + strconv.Itoa(v.k)
	if inflated {
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
