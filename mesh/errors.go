package mesh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// APIError is a MESH answer with a status the caller did not ask for. It
// carries the MESH event, code and description from whichever body shape the
// server used (v1, v2, validation, or plain text).
type APIError struct {
	Method     string
	Path       string // the request path, without query (query values may identify a message)
	StatusCode int
	// Event, Code and Description come from the body when it had them.
	Event       string
	Code        string
	Description string
	MessageID   string
	// Body is the start of a body that was not MESH JSON (an XML fault, an
	// HTML proxy page), trimmed to one line.
	Body string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" || e.Event != "" {
		b.WriteString(" (")
		if e.Event != "" {
			b.WriteString(e.Event)
			if e.Code != "" {
				b.WriteString(" ")
			}
		}
		if e.Code != "" {
			b.WriteString("code " + e.Code)
		}
		b.WriteString(")")
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	} else if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	if m := CodeMeaning(e.Code); m != "" && !strings.EqualFold(m, e.Description) {
		b.WriteString(" [" + m + "]")
	}
	return b.String()
}

// IsAuth reports whether MESH refused the request's credentials (403 with no
// business code: an authentication failure, as opposed to, say, a 403 for
// another mailbox's message).
func (e *APIError) IsAuth() bool {
	return e.StatusCode == http.StatusForbidden && (e.Code == "" || e.Code == "EPL-151")
}

// Temporary reports whether a retry may succeed.
func (e *APIError) Temporary() bool { return retryableStatus(e.StatusCode) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooEarly, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// AsAPIError unwraps err to an *APIError.
func AsAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

// maxErrorBody bounds how much of an error body is read: enough for any
// MESH error, not a memory hazard when a proxy answers with a large page.
const maxErrorBody = 64 << 10

// DecodeError builds an *APIError from a response status and body, whatever
// shape the body has.
func DecodeError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, StatusCode: status}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return e
	}
	var probe struct {
		// v1
		MessageIDv1      string   `json:"messageID"`
		ErrorEvent       string   `json:"errorEvent"`
		ErrorCode        flexCode `json:"errorCode"`
		ErrorDescription string   `json:"errorDescription"`
		// v2, and FastAPI validation (detail may be a list or a string)
		MessageIDv2 string          `json:"message_id"`
		Detail      json.RawMessage `json:"detail"`
		// generic sandbox error
		Message string `json:"message"`
	}
	if body[0] != '{' || json.Unmarshal(body, &probe) != nil {
		e.Body = oneLine(body, 200)
		return e
	}
	e.MessageID = firstNonEmpty(probe.MessageIDv1, probe.MessageIDv2)
	if probe.ErrorEvent != "" || probe.ErrorCode != "" || probe.ErrorDescription != "" {
		e.Event, e.Code, e.Description = probe.ErrorEvent, string(probe.ErrorCode), probe.ErrorDescription
		return e
	}
	if len(probe.Detail) > 0 {
		var details []struct {
			Event string          `json:"event"`
			Code  flexCode        `json:"code"`
			Msg   string          `json:"msg"`
			Loc   json.RawMessage `json:"loc"`
		}
		var text string
		switch {
		case json.Unmarshal(probe.Detail, &details) == nil && len(details) > 0:
			d := details[0]
			e.Event, e.Code, e.Description = d.Event, string(d.Code), d.Msg
			if len(d.Loc) > 0 && d.Event == "" && d.Code == "" {
				e.Description = strings.TrimSpace(d.Msg + " " + string(d.Loc))
			}
		case json.Unmarshal(probe.Detail, &text) == nil:
			e.Description = text
		}
		return e
	}
	if probe.Message != "" {
		e.Description = oneLine([]byte(probe.Message), 200)
		return e
	}
	e.Body = oneLine(body, 200)
	return e
}

// flexCode reads an error code written as a string ("12") or, as the 2021
// specification's schema allowed, a number (12, read as "12"; 2 as "02").
type flexCode string

func (c *flexCode) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*c = flexCode(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return nil // an unreadable code is no code, not a failed decode
	}
	if len(n) == 1 {
		n = "0" + n
	}
	*c = flexCode(n)
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func oneLine(b []byte, limit int) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(b))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// codeMeanings are MESH error codes (mesh-api.md §4.2) in plain words.
var codeMeanings = map[string]string{
	"02":                         "the message body is missing or empty",
	"06":                         "a mex header is malformed (control characters or a URL where a value belongs)",
	"07":                         "Mex-From does not match the mailbox in the Authorization header",
	"08":                         "Mex-To is missing",
	"09":                         "invalid control file version",
	"11":                         "invalid message type (should be DATA)",
	"12":                         "the recipient mailbox is not registered",
	"14":                         "the message was not delivered (not collected in time, or the mailbox is deactivated)",
	"15":                         "bad CP-IS file",
	"16":                         "this mailbox is not allowed to send messages of this workflow",
	"17":                         "the workflow is not registered for the recipient mailbox",
	"18":                         "ONS civil registration is not enabled over MESH for this workflow",
	"19":                         "the workflow does not support chunked messages",
	"20":                         "the message does not exist",
	"EPL-150":                    "more than one mailbox matched the address",
	"EPL-151":                    "no mailbox matched",
	"InvalidHeaderChunks":        "Mex-Chunk-Range is invalid or does not match the URL",
	"UnsupportedContentEncoding": "only gzip Content-Encoding is supported",
}

// CodeMeaning says what a MESH error code means, or "" for unknown codes.
func CodeMeaning(code string) string { return codeMeanings[code] }
