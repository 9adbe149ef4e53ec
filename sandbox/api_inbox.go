package sandbox

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var handshakeHeaders = [...]struct{ key, loc string }{
	{canon(mesh.HeaderClientVersion), "mex-clientversion"},
	{canon(mesh.HeaderOSName), "mex-osname"},
	{canon(mesh.HeaderOSVersion), "mex-osversion"},
}

// handshake is GET or POST /messageexchange/{mailbox} (mesh-api.md §3.2).
func (a *api) handshake(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var verrs []fieldError
	for _, h := range handshakeHeaders {
		if _, ok := header(r, h.key); !ok {
			verrs = append(verrs, missingField("header", h.loc))
		}
	}
	if verrs != nil {
		writeValidation(w, verrs)
		return
	}
	if c.v2 {
		writeEmpty(w, http.StatusOK)
		return
	}
	b := append(make([]byte, 0, 48), `{"mailboxId":`...)
	b = appendJSONString(b, c.mailbox.ID)
	writeBody(w, c, http.StatusOK, append(b, '}'))
}

// update is POST /messageexchange/{mailbox}/update: an authenticated no-op,
// as in NHS's sandbox.
func (a *api) update(w http.ResponseWriter, _ *http.Request, _ *reqCtx) {
	writeEmpty(w, http.StatusOK)
}

// Inbox listing limits (mesh-api.md §3.5).
const (
	defaultMaxResults = 500
	minMaxResults     = 10
	maxMaxResults     = 5000
	minContinueFrom   = 24
	maxContinueFrom   = 1000
	minWorkflowFilter = 2
	maxWorkflowFilter = 255
)

// lastQuery is the last value of a query parameter (as Starlette reads it).
func lastQuery(q url.Values, key string) (string, bool) {
	v := q[key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// listInbox is GET /messageexchange/{mailbox}/inbox.
func (a *api) listInbox(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	mb := c.mailbox.ID
	q, _ := url.ParseQuery(r.URL.RawQuery)
	var verrs []fieldError
	maxResults := defaultMaxResults
	if v, ok := lastQuery(q, "max_results"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			verrs = append(verrs, fieldError{Loc: []string{"query", "max_results"}, Msg: "value is not a valid integer", Type: "type_error.integer"})
		case n < minMaxResults:
			verrs = append(verrs, fieldError{Loc: []string{"query", "max_results"}, Msg: "ensure this value is greater than or equal to 10",
				Type: "value_error.number.not_ge", Ctx: map[string]any{"limit_value": minMaxResults}})
		case n > maxMaxResults:
			verrs = append(verrs, fieldError{Loc: []string{"query", "max_results"}, Msg: "ensure this value is less than or equal to 5000",
				Type: "value_error.number.not_le", Ctx: map[string]any{"limit_value": maxMaxResults}})
		default:
			maxResults = n
		}
	}
	continueFrom, hasContinue := lastQuery(q, "continue_from")
	if hasContinue {
		verrs = appendLengthError(verrs, "query", "continue_from", continueFrom, minContinueFrom, maxContinueFrom)
	}
	filter, hasFilter := lastQuery(q, "workflow_filter")
	if hasFilter {
		verrs = appendLengthError(verrs, "query", "workflow_filter", filter, minWorkflowFilter, maxWorkflowFilter)
	}
	if verrs != nil {
		writeValidation(w, verrs)
		return
	}
	var after uint64
	if hasContinue {
		seq, ok := a.continuePosition(mb, continueFrom, c.v2)
		if !ok {
			a.fail(w, c, apiError{status: http.StatusBadRequest, desc: "continue_from is not a value this inbox gave out"})
			return
		}
		after = seq
	}
	page := a.st.listInbox(mb, after, maxResults, workflowFilter(filter))

	b := make([]byte, 0, 64+30*len(page.ids))
	b = append(b, `{"messages":[`...)
	for i, id := range page.ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
	}
	b = append(b, ']')
	if c.v2 {
		base := "/messageexchange/" + url.PathEscape(mb) + "/inbox?max_results=" + strconv.Itoa(maxResults)
		filterPart := ""
		if hasFilter {
			filterPart = "&workflow_filter=" + url.QueryEscape(filter)
		}
		self := base
		if hasContinue {
			self += "&continue_from=" + url.QueryEscape(continueFrom)
		}
		b = append(b, `,"links":{"self":`...)
		b = appendJSONString(b, self+filterPart)
		if page.more {
			next := base + "&continue_from=" + url.QueryEscape(encodeContinue(page.lastSeq, page.ids[len(page.ids)-1])) + filterPart
			b = append(b, `,"next":`...)
			b = appendJSONString(b, next)
		}
		b = append(b, `},"approx_inbox_count":`...)
		b = strconv.AppendInt(b, int64(page.count), 10)
	}
	b = append(b, '}')
	writeBody(w, c, http.StatusOK, b)
}

// The v2 continue_from token is opaque to clients: base64url of
// "c:<inbox position>:<last message id>", padded to at least 24
// characters. Inbox positions are stored with the messages, so a token
// survives a restart, and acknowledging messages between pages does not
// move the next page.
const continuePrefix = "c:"

func encodeContinue(seq uint64, lastID string) string {
	plain := make([]byte, 0, 48)
	plain = append(plain, continuePrefix...)
	plain = strconv.AppendUint(plain, seq, 10)
	plain = append(plain, ':')
	plain = append(plain, lastID...)
	for len(plain) < 18 { // 18 bytes encode to 24 characters
		plain = append(plain, '.')
	}
	return base64.RawURLEncoding.EncodeToString(plain)
}

func decodeContinue(tok string) (uint64, bool) {
	plain, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(plain), continuePrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ":")
	if !ok || !allDigits(num) {
		return 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	return seq, err == nil
}

// continuePosition reads continue_from: a token for v2, the last message id
// of the previous page for v1. Either version accepts the other's form.
func (a *api) continuePosition(mb, value string, v2 bool) (uint64, bool) {
	if seq, ok := decodeContinue(value); ok {
		return seq, true
	}
	id := strings.ToUpper(strings.TrimSpace(value))
	if !v2 {
		return a.st.inboxSeqOf(mb, id), true
	}
	if seq := a.st.inboxSeqOf(mb, id); seq > 0 {
		return seq, true
	}
	return 0, false
}

// workflowFilter reads workflow_filter: WF equals, !WF not equal, WF* begins
// with, !WF* does not begin with, *X* contains, !*X* does not contain (and
// *X ends with). nil matches everything.
func workflowFilter(f string) func(string) bool {
	f = strings.TrimSpace(f)
	if f == "" {
		return nil
	}
	not := strings.HasPrefix(f, "!")
	f = strings.TrimPrefix(f, "!")
	lead := strings.HasPrefix(f, "*")
	f = strings.TrimPrefix(f, "*")
	trail := strings.HasSuffix(f, "*")
	f = strings.TrimSuffix(f, "*")
	var match func(string) bool
	switch {
	case lead && trail:
		match = func(wf string) bool { return strings.Contains(wf, f) }
	case trail:
		match = func(wf string) bool { return strings.HasPrefix(wf, f) }
	case lead:
		match = func(wf string) bool { return strings.HasSuffix(wf, f) }
	default:
		match = func(wf string) bool { return wf == f }
	}
	if not {
		return func(wf string) bool { return !match(wf) }
	}
	return match
}

// count is GET /messageexchange/{mailbox}/count (deprecated, §3.6).
func (a *api) count(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	n := a.st.inboxCount(c.mailbox.ID)
	b := append(make([]byte, 0, 96), `{"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	if !c.v2 {
		b = append(b, `,"internalID":`...)
		b = appendJSONString(b, newMessageID(a.st.now()))
		b = append(b, `,"allResultsIncluded":true`...)
	}
	writeBody(w, c, http.StatusOK, append(b, '}'))
}

// richMessage is one message of the rich inbox and outbox (NHS sandbox
// extras, mesh-api.md §8.4).
type richMessage struct {
	MessageID       string  `json:"message_id"`
	ExpiryTimestamp string  `json:"expiry_timestamp,omitempty"`
	LocalID         string  `json:"local_id,omitempty"`
	MessageType     string  `json:"message_type"`
	Recipient       string  `json:"recipient"`
	RecipientName   string  `json:"recipient_name,omitempty"`
	Sender          string  `json:"sender"`
	SenderName      string  `json:"sender_name,omitempty"`
	SentDate        string  `json:"sent_date,omitempty"`
	Status          string  `json:"status"`
	StatusCode      *string `json:"status_code"`
	WorkflowID      string  `json:"workflow_id"`
	TotalChunks     int     `json:"total_chunks"`
}

type richView struct {
	ValidAt  string            `json:"valid_at"`
	Messages []richMessage     `json:"messages"`
	Links    map[string]string `json:"links"`
}

func (a *api) richInbox(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a.rich(w, r, c, false)
}

func (a *api) richOutbox(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a.rich(w, r, c, true)
}

const (
	richDefaultMax = 100
	richMaxMax     = 1000
)

// rich lists a mailbox's received (inbox, including acknowledged) or sent
// (outbox) messages, newest first, created after start_time (default: the
// last 30 days), max_results at a time (default 100; the outbox at most
// 100, as in NHS's sandbox).
func (a *api) rich(w http.ResponseWriter, r *http.Request, c *reqCtx, outbox bool) {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	now := a.st.now()
	since := now.Add(-purgeAfter)
	var verrs []fieldError
	if v, ok := lastQuery(q, "start_time"); ok && v != "" {
		t, err := parseISOTime(v)
		if err != nil {
			verrs = append(verrs, fieldError{Loc: []string{"query", "start_time"}, Msg: "invalid datetime format", Type: "value_error.datetime"})
		}
		since = t
	}
	maxResults := richDefaultMax
	if v, ok := lastQuery(q, "max_results"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > richMaxMax {
			verrs = append(verrs, fieldError{Loc: []string{"query", "max_results"}, Msg: "value must be an integer from 1 to 1000", Type: "value_error"})
		}
		maxResults = n
	}
	if outbox {
		maxResults = min(maxResults, richDefaultMax)
	}
	var beforeCreated time.Time
	var beforeID string
	if v, ok := lastQuery(q, "continue_from"); ok && v != "" {
		t, id, ok := decodeRichContinue(v)
		if !ok {
			verrs = append(verrs, fieldError{Loc: []string{"query", "continue_from"}, Msg: "not a continue_from value this mailbox gave out", Type: "value_error"})
		}
		beforeCreated, beforeID = t, id
	}
	if verrs != nil {
		writeValidation(w, verrs)
		return
	}
	page, more := a.st.richList(c.mailbox.ID, outbox, since, beforeCreated, beforeID, maxResults)
	view := richView{ValidAt: isoTime(now), Messages: make([]richMessage, 0, len(page)), Links: map[string]string{}}
	for i := range page {
		m := &page[i]
		rm := richMessage{
			MessageID:       m.ID,
			ExpiryTimestamp: isoTime(m.inboxExpiryTime()),
			LocalID:         m.LocalID,
			MessageType:     m.Type,
			Recipient:       m.Recipient,
			RecipientName:   a.party(m.Recipient).Name,
			Sender:          m.Sender,
			SenderName:      a.party(m.Sender).Name,
			SentDate:        isoTime(m.Delivered),
			Status:          m.Status.String(),
			WorkflowID:      m.WorkflowID,
			TotalChunks:     m.Total,
		}
		if m.Err != nil && m.Err.Code != "" {
			code := m.Err.Code
			rm.StatusCode = &code
		}
		view.Messages = append(view.Messages, rm)
	}
	path := "/messageexchange/" + url.PathEscape(c.mailbox.ID) + "/inbox/rich"
	if outbox {
		path = "/messageexchange/" + url.PathEscape(c.mailbox.ID) + "/outbox/rich"
	}
	base := path + "?start_time=" + url.QueryEscape(isoTime(since)) + "&max_results=" + strconv.Itoa(maxResults)
	view.Links["self"] = base
	if more && len(page) > 0 {
		last := page[len(page)-1]
		view.Links["next"] = base + "&continue_from=" + url.QueryEscape(encodeRichContinue(last.Created, last.ID))
	}
	c.v2 = true // NHS's sandbox answers the rich views in v2 only
	writeJSON(w, c, http.StatusOK, view)
}

func encodeRichContinue(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r:" + strconv.FormatInt(created.UnixNano(), 10) + ":" + id))
}

func decodeRichContinue(tok string) (time.Time, string, bool) {
	plain, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return time.Time{}, "", false
	}
	rest, ok := strings.CutPrefix(string(plain), "r:")
	if !ok {
		return time.Time{}, "", false
	}
	num, id, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, n).UTC(), id, true
}

// isoLayout writes v2 times: ISO 8601 with microseconds and an explicit
// +00:00, which Python's fromisoformat, .NET and JavaScript all read.
const isoLayout = "2006-01-02T15:04:05.000000-07:00"

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(isoLayout)
}

func parseISOTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return time.Time{}, err
}
