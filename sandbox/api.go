package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/mesh"
)

// apiOptions configure the MESH API handler.
type apiOptions struct {
	SharedKey string
	// Now is the server's clock (already skewed when the clock-skew fault is on).
	Now func() time.Time
	// TokenWindow is how far a token's timestamp may be from Now; 0 turns the
	// check off. Normally mesh.TokenWindow.
	TokenWindow time.Duration
	// SingleUseTokens rejects a reused (mailbox, nonce, nonce_count) with 403.
	SingleUseTokens bool
	// RejectAllTokens is the reject-token fault: every authenticated call
	// answers 403 "Invalid Authentication Token".
	RejectAllTokens bool
	// MaxRequestBytes bounds one request body (DefaultMaxRequestBytes when
	// 0); a larger body is refused with 413 and a MESH error body.
	MaxRequestBytes int64
}

// api serves the MESH API, the health routes and NHS's sandbox admin
// routes from a store.
type api struct {
	opts   apiOptions
	st     *store
	auth   *authenticator
	build  string
	routes []route
}

// newAPI makes the sandbox's HTTP handler. It does not log and does not look
// at client certificates: the server around it does both.
func newAPI(opts apiOptions, st *store) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	a := &api{opts: opts, st: st, build: buildLabel()}
	a.auth = newAuthenticator(opts, st)
	a.routes = a.routeTable()
	return a
}

// buildLabel is the health route's build_label: the commit, as NHS's
// sandbox gives its own, or the version when the commit is not known.
func buildLabel() string {
	if c := buildinfo.Get().ShortCommit(); c != "" {
		return c
	}
	return buildinfo.Version()
}

// reqCtx is what routing and authentication learned about a request.
type reqCtx struct {
	params  [4]string
	v2      bool
	mailbox *Mailbox // the authenticated mailbox, on mailbox routes
}

// route kinds.
const (
	kindPlain   = iota // health and admin: no Accept parsing, no auth
	kindMESH           // MESH route without a mailbox (lookups): Accept parsed
	kindMailbox        // /messageexchange/{mailbox}/...: Accept parsed, token checked
)

type route struct {
	segs    []string // literal segments, or "" for a parameter
	methods []string
	kind    int
	h       func(a *api, w http.ResponseWriter, r *http.Request, c *reqCtx)
}

func (a *api) routeTable() []route {
	mk := func(pattern string, kind int, h func(*api, http.ResponseWriter, *http.Request, *reqCtx), methods ...string) route {
		var segs []string
		for _, s := range strings.Split(strings.Trim(pattern, "/"), "/") {
			if strings.HasPrefix(s, "{") {
				s = ""
			}
			segs = append(segs, s)
		}
		return route{segs: segs, methods: methods, kind: kind, h: h}
	}
	get, post, put, del, head := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead
	return []route{
		// Health (no auth), as NHS's sandbox.
		mk("/health", kindPlain, (*api).health, get),
		mk("/_status", kindPlain, (*api).health, get),
		mk("/_ping", kindPlain, (*api).health, get),
		mk("/healthcheck", kindPlain, (*api).health, get),
		mk("/messageexchange/_ping", kindPlain, (*api).health, get),
		mk("/messageexchange/deepping", kindPlain, (*api).health, get),
		// Admin (no auth, mesh-api.md §8.4).
		mk("/admin/reset", kindPlain, (*api).adminReset, del),
		mk("/messageexchange/admin/reset", kindPlain, (*api).adminReset, del),
		mk("/admin/reset/{mailbox}", kindPlain, (*api).adminReset, del),
		mk("/messageexchange/admin/reset/{mailbox}", kindPlain, (*api).adminReset, del),
		mk("/messageexchange/admin/report", kindPlain, (*api).adminReport, post),
		mk("/admin/message/{id}/event", kindPlain, (*api).adminEvent, post),
		mk("/messageexchange/admin/message/{id}/event", kindPlain, (*api).adminEvent, post),
		mk("/admin/mailbox/{mailbox}", kindPlain, (*api).adminMailbox, get),
		mk("/messageexchange/admin/mailbox/{mailbox}", kindPlain, (*api).adminMailbox, get),
		mk("/messageexchange/mailbox/{mailbox}", kindPlain, (*api).adminMailbox, get),
		mk("/admin/uploads/expired", kindPlain, (*api).adminExpiredUploads, get),
		mk("/messageexchange/admin/uploads/expired", kindPlain, (*api).adminExpiredUploads, get),
		mk("/admin/message/{id}", kindPlain, (*api).adminMessage, get),
		mk("/messageexchange/admin/message/{id}", kindPlain, (*api).adminMessage, get),
		// Lookups: MESH relies on mutual TLS there, no token.
		mk("/messageexchange/endpointlookup/{ods}/{workflow}", kindMESH, (*api).endpointLookup, get),
		mk("/messageexchange/workflowsearch/{workflow}", kindMESH, (*api).workflowSearch, get),
		// The lookup's path before it moved under /messageexchange (API
		// specification of 2021, SPEC@f9b9151), as mesh-client releases
		// before 2.0 call it (lookup_endpoint).
		mk("/endpointlookup/mesh/{ods}/{workflow}", kindMESH, (*api).endpointLookup, get),
		// Mailbox routes.
		mk("/messageexchange/{mailbox}", kindMailbox, (*api).handshake, get, post),
		mk("/messageexchange/{mailbox}/update", kindMailbox, (*api).update, post),
		mk("/messageexchange/{mailbox}/count", kindMailbox, (*api).count, get),
		mk("/messageexchange/{mailbox}/inbox", kindMailbox, (*api).listInbox, get),
		mk("/messageexchange/{mailbox}/inbox/rich", kindMailbox, (*api).richInbox, get),
		mk("/messageexchange/{mailbox}/inbox/{id}", kindMailbox, (*api).download, get, head),
		mk("/messageexchange/{mailbox}/inbox/{id}/{chunk}", kindMailbox, (*api).downloadChunk, get),
		mk("/messageexchange/{mailbox}/inbox/{id}/status/acknowledged", kindMailbox, (*api).acknowledge, put),
		mk("/messageexchange/{mailbox}/outbox", kindMailbox, (*api).send, post),
		mk("/messageexchange/{mailbox}/outbox/rich", kindMailbox, (*api).richOutbox, get),
		mk("/messageexchange/{mailbox}/outbox/tracking", kindMailbox, (*api).tracking, get),
		mk("/messageexchange/{mailbox}/outbox/tracking/{local_id}", kindMailbox, (*api).trackingByLocalID, get),
		mk("/messageexchange/{mailbox}/outbox/{id}/{chunk}", kindMailbox, (*api).sendChunk, post),
	}
}

const maxSegments = 8

// splitPath splits an absolute, still escaped path into at most
// maxSegments non-empty, unescaped segments (so that an escaped "/" stays
// inside its segment, e.g. in a local id); one trailing slash is tolerated.
func splitPath(p string, out *[maxSegments]string) (int, bool) {
	if len(p) < 2 || p[0] != '/' {
		return 0, false
	}
	p = strings.TrimSuffix(p[1:], "/")
	n := 0
	for {
		seg, rest, more := strings.Cut(p, "/")
		if seg == "" || n == maxSegments {
			return 0, false
		}
		if strings.IndexByte(seg, '%') >= 0 {
			var err error
			if seg, err = url.PathUnescape(seg); err != nil || seg == "" {
				return 0, false
			}
		}
		out[n] = seg
		n++
		if !more {
			return n, true
		}
		p = rest
	}
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer recoverInternal(w)
	if r.ContentLength != 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		body := &watchedBody{ReadCloser: r.Body}
		r.Body = body
		w = &drainOnError{ResponseWriter: w, body: body, expect: r.Header.Get("Expect") != ""}
	}
	var segs [maxSegments]string
	n, ok := splitPath(r.URL.EscapedPath(), &segs)
	var allow []string
	if ok {
		for i := range a.routes {
			rt := &a.routes[i]
			c, matched := rt.match(segs[:n])
			if !matched {
				continue
			}
			if !allowed(rt.methods, r.Method) {
				allow = append(allow, rt.methods...)
				continue
			}
			a.serveRoute(rt, c, w, r)
			return
		}
	}
	if allow != nil {
		w.Header()["Allow"] = []string{strings.Join(allow, ", ")}
		writeRaw(w, http.StatusMethodNotAllowed, ctJSON, []byte(`{"detail":"Method Not Allowed"}`))
		return
	}
	writeRaw(w, http.StatusNotFound, ctJSON, []byte(`{"detail":"Not Found"}`))
}

func (rt *route) match(segs []string) (*reqCtx, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	for i, s := range rt.segs {
		if s != "" && s != segs[i] {
			return nil, false
		}
	}
	c := &reqCtx{}
	np := 0
	for i, s := range rt.segs {
		if s == "" && np < len(c.params) {
			c.params[np] = segs[i]
			np++
		}
	}
	return c, true
}

func allowed(methods []string, m string) bool {
	for _, have := range methods {
		if have == m {
			return true
		}
	}
	return false
}

func (a *api) serveRoute(rt *route, c *reqCtx, w http.ResponseWriter, r *http.Request) {
	v, ok := apiVersion(r.Header[hAccept])
	c.v2 = ok && v >= 2
	if rt.kind != kindPlain {
		if !ok {
			a.fail(w, c, apiError{status: http.StatusBadRequest, desc: "Accept header api format incorrect"})
			return
		}
	}
	if rt.kind == kindMailbox {
		c.params[0] = strings.ToUpper(c.params[0])
		mb, e := a.auth.check(r, c.params[0])
		if e != nil {
			a.fail(w, c, *e)
			return
		}
		c.mailbox = mb
	}
	rt.h(a, w, r, c)
}

// apiVersion reads the MESH API version from Accept (mesh-api.md §3.0): no
// value or no vnd.mesh piece is v1; the first piece naming vnd.mesh must be
// application/vnd.mesh.vN+json. Pieces are split on ";" as NHS's sandbox
// does and also on ",", as HTTP lists are.
func apiVersion(values []string) (int, bool) {
	for _, v := range values {
		for v != "" {
			var piece string
			i := strings.IndexAny(v, ";,")
			if i < 0 {
				piece, v = v, ""
			} else {
				piece, v = v[:i], v[i+1:]
			}
			piece = strings.TrimSpace(piece)
			if !strings.Contains(piece, "vnd.mesh") {
				continue
			}
			const pre, post = "application/vnd.mesh.v", "+json"
			num, ok := strings.CutPrefix(piece, pre)
			if ok {
				num, ok = strings.CutSuffix(num, post)
			}
			if !ok || num == "" || len(num) > 9 || !allDigits(num) {
				return 0, false
			}
			n, _ := strconv.Atoi(num)
			return n, true
		}
	}
	return 1, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Canonical request header keys (Go canonicalises incoming names).
var (
	hAccept         = http.CanonicalHeaderKey("Accept")
	hAcceptEncoding = http.CanonicalHeaderKey("Accept-Encoding")
	hAuthorization  = http.CanonicalHeaderKey(mesh.HeaderAuthorization)
	hContentEnc     = http.CanonicalHeaderKey("Content-Encoding")
	hContentType    = http.CanonicalHeaderKey("Content-Type")
)

// header returns the first value of a canonical header key.
func header(r *http.Request, key string) (string, bool) {
	v := r.Header[key]
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// Content types of answers.
const (
	mediaJSON = "application/json"
	mediaV2   = mesh.AcceptV2
)

var (
	ctJSON = []string{mediaJSON}
	ctV2   = []string{mediaV2}
)

// drainOnError reads what is left of a request body before an error answer
// goes out, as the proxies in front of MESH do (they take in the request,
// or linger reading it, before the answer). Without it a client still
// sending when the answer comes (a send to an unknown mailbox, a bad token,
// a body over the size limit) can have its connection reset and never see
// the answer; and curl, which asks "Expect: 100-continue" for large
// uploads, takes a 417 that arrives before "100 Continue" as the server
// refusing the expectation and sends the request again without it, with
// the same, now used, token: a misleading 403. Reading the body answers the
// expectation with 100 Continue first. The one answer given without
// reading is a 413 to a client that is waiting for 100 Continue: it sends
// nothing more. Draining is bounded in time.
type drainOnError struct {
	http.ResponseWriter
	body    *watchedBody
	expect  bool // the client asked for 100 Continue
	drained bool
}

// drainTimeout bounds how long an error answer waits for a body.
const drainTimeout = 30 * time.Second

func (d *drainOnError) WriteHeader(status int) {
	if status >= 400 && !d.drained {
		d.drained = true
		if !(status == http.StatusRequestEntityTooLarge && d.expect && !d.body.read) {
			rc := http.NewResponseController(d.ResponseWriter)
			_ = rc.SetReadDeadline(time.Now().Add(drainTimeout))
			_, _ = io.Copy(io.Discard, d.body.ReadCloser)
			_ = rc.SetReadDeadline(time.Time{})
		}
	}
	d.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the real writer.
func (d *drainOnError) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// watchedBody notes whether a handler has read the request body.
type watchedBody struct {
	io.ReadCloser
	read bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read = true
	return b.ReadCloser.Read(p)
}

func writeRaw(w http.ResponseWriter, status int, ct []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ct
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeBody writes a success body in the request's version's media type.
func writeBody(w http.ResponseWriter, c *reqCtx, status int, body []byte) {
	ct := ctJSON
	if c.v2 {
		ct = ctV2
	}
	writeRaw(w, status, ct, body)
}

// writeJSON marshals v as the answer (for the larger, rarer bodies).
func writeJSON(w http.ResponseWriter, c *reqCtx, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // the sandbox's own types always marshal
	}
	writeBody(w, c, status, body)
}

// writeEmpty answers with a status and no body (v2 handshake, chunk, ack).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(status)
}

// apiError is a MESH error answer.
type apiError struct {
	status    int
	event     string
	code      string
	desc      string
	messageID string
	fields    []string // v1 only: the malformed mex headers (code 06)
}

// fail writes a MESH error body in the request's version (mesh-api.md §4.1).
func (a *api) fail(w http.ResponseWriter, c *reqCtx, e apiError) {
	b := make([]byte, 0, 160)
	if c != nil && c.v2 {
		b = append(b, '{')
		if e.messageID != "" {
			b = append(b, `"message_id":`...)
			b = appendJSONString(b, e.messageID)
			b = append(b, ',')
		}
		b = append(b, `"detail":[{"event":`...)
		b = appendJSONString(b, e.event)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, e.code)
		b = append(b, `,"msg":`...)
		b = appendJSONString(b, e.desc)
		b = append(b, "}]}"...)
		writeRaw(w, e.status, ctV2, b)
		return
	}
	b = append(b, '{')
	if e.messageID != "" {
		b = append(b, `"messageID":`...)
		b = appendJSONString(b, e.messageID)
		b = append(b, ',')
	}
	b = append(b, `"errorEvent":`...)
	b = appendJSONString(b, e.event)
	b = append(b, `,"errorCode":`...)
	b = appendJSONString(b, e.code)
	b = append(b, `,"errorDescription":`...)
	b = appendJSONString(b, e.desc)
	if len(e.fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range e.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeRaw(w, e.status, ctJSON, b)
}

// fieldError is one entry of a FastAPI-style validation error.
type fieldError struct {
	Loc  []string       `json:"loc"`
	Msg  string         `json:"msg"`
	Type string         `json:"type"`
	Ctx  map[string]any `json:"ctx,omitempty"`
}

func missingField(where, name string) fieldError {
	return fieldError{Loc: []string{where, name}, Msg: "field required", Type: "value_error.missing"}
}

func tooLong(where, name string, limit int) fieldError {
	return fieldError{Loc: []string{where, name}, Msg: fmt.Sprintf("ensure this value has at most %d characters", limit),
		Type: "value_error.any_str.max_length", Ctx: map[string]any{"limit_value": limit}}
}

// appendLengthError adds the validation error for a value outside
// [lo, hi] characters, if it is.
func appendLengthError(verrs []fieldError, where, name, value string, lo, hi int) []fieldError {
	switch n := len(value); {
	case n < lo:
		return append(verrs, tooShort(where, name, lo))
	case n > hi:
		return append(verrs, tooLong(where, name, hi))
	}
	return verrs
}

func tooShort(where, name string, limit int) fieldError {
	return fieldError{Loc: []string{where, name}, Msg: fmt.Sprintf("ensure this value has at least %d characters", limit),
		Type: "value_error.any_str.min_length", Ctx: map[string]any{"limit_value": limit}}
}

// writeValidation answers 400 with a FastAPI validation body, as NHS's
// sandbox does for a missing or over-long header or query parameter.
func writeValidation(w http.ResponseWriter, errs []fieldError) {
	body, _ := json.Marshal(struct {
		Detail []fieldError `json:"detail"`
	}{errs})
	writeRaw(w, http.StatusBadRequest, ctJSON, body)
}

const internalErrorBody = `{"message":"An internal error occurred.\n\nPlease contact support."}`

// recoverInternal turns a panic into NHS's sandbox's generic 500 (a last
// resort: no input should panic). An aborted handler stays aborted.
func recoverInternal(w http.ResponseWriter) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	writeRaw(w, http.StatusInternalServerError, ctJSON, []byte(internalErrorBody))
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
