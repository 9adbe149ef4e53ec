package sandbox

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// mexField is a send header with NHS's sandbox's limits (mesh-api.md §3.3).
type mexField struct {
	key    string // canonical request header key
	loc    string // lower-case name for validation errors
	field  string // NHS sandbox's field name, for code-06 "fields"
	max    int
	needed bool
}

var (
	fTo          = mexField{key: canon(mesh.HeaderTo), loc: "mex-to", field: "mex_to", max: 100, needed: true}
	fWorkflow    = mexField{key: canon(mesh.HeaderWorkflowID), loc: "mex-workflowid", field: "mex_workflow_id", max: 300, needed: true}
	fChunkRange  = mexField{key: canon(mesh.HeaderChunkRange), loc: "mex-chunk-range", field: "mex_chunk_range", max: 20}
	fSubject     = mexField{key: canon(mesh.HeaderSubject), loc: "mex-subject", field: "mex_subject", max: 500}
	fLocalID     = mexField{key: canon(mesh.HeaderLocalID), loc: "mex-localid", field: "mex_localid", max: 300}
	fPartnerID   = mexField{key: canon(mesh.HeaderPartnerID), loc: "mex-partnerid", field: "mex_partnerid", max: 500}
	fFileName    = mexField{key: canon(mesh.HeaderFileName), loc: "mex-filename", field: "mex_filename", max: 300}
	fEncrypted   = mexField{key: canon(mesh.HeaderContentEncrypted), loc: "mex-content-encrypted", max: 20}
	fCompressed  = mexField{key: canon(mesh.HeaderContentCompressed), loc: "mex-content-compressed", max: 20}
	fChecksum    = mexField{key: canon(mesh.HeaderChecksum), loc: "mex-content-checksum", field: "mex_content_checksum", max: 100}
	fContentType = mexField{key: canon(mesh.HeaderContentType), loc: "mex-content-type", field: "mex_content_type", max: 100}
	hFrom        = canon(mesh.HeaderFrom)
	// sendFields is in the order of the i* indexes below.
	sendFields = []*mexField{&fTo, &fWorkflow, &fChunkRange, &fSubject, &fLocalID, &fPartnerID, &fFileName,
		&fEncrypted, &fCompressed, &fChecksum, &fContentType}
)

const (
	iTo = iota
	iWorkflow
	iChunkRange
	iSubject
	iLocalID
	iPartnerID
	iFileName
	iEncrypted
	iCompressed
	iChecksum
	iContentType
)

func canon(s string) string { return http.CanonicalHeaderKey(s) }

// Send errors (NHS sandbox ErrorCodeMap wording).
var (
	errBadChunkHeader = apiError{status: http.StatusExpectationFailed, event: "SEND", code: "InvalidHeaderChunks",
		desc: "Invalid chunk values sent in mex-Chunk-Range header"}
	errNoData = apiError{status: http.StatusExpectationFailed, event: "COLLECT", code: "02",
		desc: "Data file is missing or inaccessible."}
)

// send is POST /messageexchange/{mailbox}/outbox: a whole message or its
// first chunk, checked in NHS's sandbox's order (mesh-api.md §3.3) plus the
// checks of the real service (Mex-From, 413).
func (a *api) send(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	vals := make([]string, len(sendFields))
	var verrs []fieldError
	for i, f := range sendFields {
		v, ok := header(r, f.key)
		switch {
		case !ok && f.needed:
			verrs = append(verrs, missingField("header", f.loc))
		case utf8.RuneCountInString(v) > f.max:
			verrs = append(verrs, tooLong("header", f.loc, f.max))
		}
		vals[i] = v
	}
	if verrs != nil {
		writeValidation(w, verrs)
		return
	}
	to := strings.ToUpper(strings.TrimSpace(vals[iTo]))
	workflow := strings.TrimSpace(vals[iWorkflow])
	chunkRange := strings.TrimSpace(vals[iChunkRange])
	vals[iTo], vals[iWorkflow], vals[iChunkRange] = to, workflow, chunkRange

	var bad []string
	for i, f := range sendFields {
		if f.field != "" && hasControl(vals[i]) {
			bad = append(bad, f.field)
		}
	}
	for _, u := range [...]struct {
		i    int
		name string
	}{{iTo, "mex-To"}, {iWorkflow, "mex-WorkflowID"}, {iChecksum, "mex-Content-Checksum"}} {
		if isURL(vals[u.i]) {
			bad = append(bad, u.name)
		}
	}
	if bad != nil {
		a.fail(w, c, apiError{status: http.StatusBadRequest, event: "TRANSFER", code: "06", desc: "MalformedControlFile", fields: bad})
		return
	}
	checksum := vals[iChecksum]
	if !validChecksum(checksum) {
		a.fail(w, c, apiError{status: http.StatusBadRequest, event: "SEND", code: "Invalid checksum", desc: "Invalid checksum"})
		return
	}
	if to == "" {
		a.fail(w, c, apiError{status: http.StatusBadRequest, event: "SEND", code: "08", desc: "TO_DTS missing"})
		return
	}
	encoding := contentEncoding(r)
	if encoding != "" && encoding != "gzip" {
		a.fail(w, c, apiError{status: http.StatusUnprocessableEntity, event: "SEND", code: "UnsupportedContentEncoding",
			desc: "Unsupported content encoding"})
		return
	}
	total := 1
	if chunkRange != "" {
		cr, err := mesh.ParseChunkRange(chunkRange)
		if err != nil || cr.Index != 1 {
			a.fail(w, c, errBadChunkHeader)
			return
		}
		total = cr.Total
	}
	if from, ok := header(r, hFrom); ok {
		if from = strings.ToUpper(strings.TrimSpace(from)); from != "" && from != c.mailbox.ID {
			a.fail(w, c, apiError{status: http.StatusExpectationFailed, event: "SEND", code: "07",
				desc: "Invalid From Address in the control file"})
			return
		}
	}
	if a.st.mailbox(to) == nil {
		a.fail(w, c, apiError{status: http.StatusExpectationFailed, event: "SEND", code: "12", desc: "Unregistered to address"})
		return
	}
	body, hint, ok := a.limitBody(w, r, c, "")
	if !ok {
		return
	}
	contentType, _ := header(r, hContentType)
	id, err := a.st.send(sendRequest{
		meta: msgMeta{
			Sender:         c.mailbox.ID,
			Recipient:      to,
			WorkflowID:     workflow,
			Subject:        vals[iSubject],
			LocalID:        vals[iLocalID],
			FileName:       vals[iFileName],
			PartnerID:      vals[iPartnerID],
			Checksum:       checksum,
			ContentType:    strings.ToLower(strings.TrimSpace(contentType)),
			MexContentType: vals[iContentType],
			Compressed:     mesh.ParseFlag(vals[iCompressed]),
			Encrypted:      mesh.ParseFlag(vals[iEncrypted]),
			Encoding:       encoding,
			Total:          total,
		},
		body:     body,
		sizeHint: hint,
	})
	if err != nil {
		a.failUpload(w, c, err, "", 1)
		return
	}
	b := make([]byte, 0, 64)
	if c.v2 {
		b = append(b, `{"message_id":`...)
	} else {
		b = append(b, `{"messageID":`...)
	}
	b = appendJSONString(b, id)
	b = append(b, '}')
	writeBody(w, c, http.StatusAccepted, b)
}

// sendChunk is POST /messageexchange/{mailbox}/outbox/{id}/{k}: chunk k of
// an uploading message (mesh-api.md §3.4). Chunks must arrive in order; an
// already received chunk may be sent again and replaces the first copy.
func (a *api) sendChunk(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id := strings.ToUpper(c.params[1])
	k, ok := pathInt(c.params[2])
	if !ok {
		writeValidation(w, []fieldError{{Loc: []string{"path", "chunk_number"}, Msg: "value is not a valid integer", Type: "type_error.integer"}})
		return
	}
	bad := errBadChunkHeader
	bad.messageID = id
	value, _ := header(r, fChunkRange.key)
	cr, err := mesh.ParseChunkRange(strings.TrimSpace(value))
	if err != nil || cr.Index != k {
		a.fail(w, c, bad)
		return
	}
	body, hint, ok := a.limitBody(w, r, c, id)
	if !ok {
		return
	}
	_, err = a.st.uploadChunk(chunkRequest{
		sender: c.mailbox.ID, id: id, k: k, n: cr.Total,
		encoding: contentEncoding(r), body: body, sizeHint: hint,
	})
	if err != nil {
		a.failUpload(w, c, err, id, k)
		return
	}
	if c.v2 {
		// The specification documents no v2 body here. NHS's sandbox sends
		// the JSON value null (views/outbox.py upload_chunk_response), and
		// NHS's .NET client JSON-decodes every chunk answer
		// (MeshOutboxService.SendChunkedMessageAsync), which fails on an
		// empty body but not on null; a client that ignores the body is
		// unaffected either way.
		writeBody(w, c, http.StatusAccepted, []byte("null"))
		return
	}
	b := make([]byte, 0, 64)
	b = append(b, `{"messageID":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"blockId":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, '}')
	writeBody(w, c, http.StatusAccepted, b)
}

// limitBody bounds the request body to MaxRequestBytes: a declared length
// over it is refused before anything is read.
func (a *api) limitBody(w http.ResponseWriter, r *http.Request, c *reqCtx, id string) (io.Reader, int64, bool) {
	limit := a.opts.MaxRequestBytes
	if r.ContentLength > limit {
		a.fail(w, c, tooLargeError(limit, id))
		return nil, 0, false
	}
	return http.MaxBytesReader(w, r.Body, limit), r.ContentLength, true
}

func tooLargeError(limit int64, id string) apiError {
	return apiError{status: http.StatusRequestEntityTooLarge, event: "SEND", messageID: id,
		desc: "Request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes; send the message in chunks"}
}

// failUpload answers a store error from a send or a chunk upload.
func (a *api) failUpload(w http.ResponseWriter, c *reqCtx, err error, id string, k int) {
	var tooBig *http.MaxBytesError
	var storage *storageError
	e := apiError{messageID: id, event: "SEND"}
	switch {
	case errors.As(err, &tooBig):
		e = tooLargeError(tooBig.Limit, id)
	case errors.As(err, &storage):
		e.status, e.desc = http.StatusInternalServerError, "The message could not be stored: "+storage.err.Error()
	case errors.Is(err, errEmptyBody):
		e = errNoData
		e.messageID = id
	case errors.Is(err, errNoMessage):
		e.status, e.code, e.desc = http.StatusNotFound, "20", "Message does not exist"
	case errors.Is(err, errNotSender):
		e.status, e.code, e.desc = http.StatusForbidden, "20", "Message was not sent by this mailbox"
	case errors.Is(err, errNotUploading):
		e.status, e.desc = http.StatusLocked, "Message has been finalised; no more chunks can be uploaded"
	case errors.Is(err, errChunkBeyond):
		e.status, e.desc = http.StatusNotAcceptable, "Chunk "+strconv.Itoa(k)+" is beyond the message's total number of chunks"
	case errors.Is(err, errChunkTotal):
		e = errBadChunkHeader
		e.messageID = id
	case errors.Is(err, errChunkOrder):
		e = errBadChunkHeader
		e.messageID = id
		e.desc = "chunk " + strconv.Itoa(k) + " arrived before chunk " + strconv.Itoa(k-1) + "; chunks must be sent in order"
	case errors.Is(err, errEncodingChanged):
		e.status, e.desc = http.StatusExpectationFailed, "cannot change content encoding"
	default:
		e.status, e.desc = http.StatusBadRequest, "The request body could not be read: "+err.Error()
	}
	a.fail(w, c, e)
}

// contentEncoding is the request's Content-Encoding, trimmed and lower-cased.
func contentEncoding(r *http.Request) string {
	v, _ := header(r, hContentEnc)
	v = strings.TrimSpace(v)
	if v == "gzip" {
		return v
	}
	return strings.ToLower(v)
}

// pathInt reads a path chunk number.
func pathInt(s string) (int, bool) {
	if !allDigits(s) || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// hasControl reports an ASCII control character (0x00-0x1F), which makes a
// mex header malformed (code 06).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// validChecksum allows letters, digits, white space and ":-/" (NHS sandbox).
func validChecksum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ' ', c == '\t', c == '\n', c == '\r', c == '\v', c == '\f':
		case c == ':', c == '-', c == '/':
		default:
			return false
		}
	}
	return true
}
