package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tracking is what MESH knows about a message this mailbox sent, the same
// whichever API version answered. Fields only v1 gives are empty in v2.
type Tracking struct {
	MessageID  string
	LocalID    string
	WorkflowID string
	FileName   string
	// Status is lower case: uploading, accepted, acknowledged,
	// undeliverable, error.
	Status            string
	StatusCode        string
	StatusEvent       string
	StatusDescription string
	// StatusSuccess is MESH's verdict on the last event; nil when it gave none.
	StatusSuccess *bool
	StatusTime    time.Time
	UploadTime    time.Time
	// ExpiryTime is when the message leaves the recipient's inbox unread
	// (and a non-delivery report is sent).
	ExpiryTime time.Time

	Recipient        string
	RecipientName    string
	RecipientODSCode string
	RecipientOrgCode string
	RecipientOrgName string

	// v1 only.
	Sender          string
	MessageType     string // upper case: DATA or REPORT
	LinkedMessageID string
	Checksum        string
	ChunkCount      int
	FileSize        int64

	// V1 and V2 are the decoded answer; exactly one is set.
	V1 *TrackingV1
	V2 *TrackingV2
}

// Track asks MESH about a message this mailbox sent (GET
// …/outbox/tracking?messageID=). A message of another sender answers 404.
func (c *Client) Track(ctx context.Context, id string) (Tracking, error) {
	r := &request{
		method: http.MethodGet,
		path:   c.mailboxPath + "/outbox/tracking",
		query:  "messageID=" + url.QueryEscape(id),
		retry:  true,
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return Tracking{}, err
	}
	buf, err := c.readBody(r, resp)
	if err != nil {
		return Tracking{}, err
	}
	defer c.putBuf(buf)
	body := buf.Bytes()
	// Tracking is informational: a field of an unexpected JSON type (a
	// string where a number was expected, a "SUCCESS" where a boolean
	// was) loses that field, not the whole answer. The fields servers
	// disagree on are then read again by hand.
	var flex trackingFlex
	if err := c.decodeTracking(r, resp, body, &flex); err != nil {
		return Tracking{}, err
	}
	if c.version == 1 {
		v := new(TrackingV1)
		if err := c.decodeTracking(r, resp, body, v); err != nil {
			return Tracking{}, err
		}
		t := trackingV1(v)
		t.fill(&flex)
		return t, nil
	}
	v := new(TrackingV2)
	if err := c.decodeTracking(r, resp, body, v); err != nil {
		return Tracking{}, err
	}
	t := trackingV2(v)
	t.fill(&flex)
	return t, nil
}

// decodeTracking is decodeJSON that lets a field of the wrong type pass:
// Go's decoder skips such a field and goes on with the rest. A body that
// is not a JSON object at all, or is empty, is still an error.
func (c *Client) decodeTracking(r *request, resp *http.Response, body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return fmt.Errorf("%s %s: %d answer has no tracking record", r.method, r.path, resp.StatusCode)
	}
	err := json.Unmarshal(trimmed, v)
	var typeErr *json.UnmarshalTypeError
	if err == nil || errors.As(err, &typeErr) && typeErr.Field != "" {
		return nil
	}
	return c.decodeJSON(r, resp, body, v)
}

// trackingFlex holds the tracking fields whose JSON type varies between
// versions and servers, in either version's spelling.
type trackingFlex struct {
	StatusSuccessV1 json.RawMessage `json:"statusSuccess"`
	StatusSuccessV2 json.RawMessage `json:"status_success"`
	ChunkCount      json.RawMessage `json:"chunkCount"`
	FileSize        json.RawMessage `json:"fileSize"`
}

// fill sets what the typed decode could not read.
func (t *Tracking) fill(f *trackingFlex) {
	// The typed decode leaves a wrong-typed *bool allocated and false, so
	// the flag is always read from the raw value.
	t.StatusSuccess = nil
	for _, raw := range [...]json.RawMessage{f.StatusSuccessV2, f.StatusSuccessV1} {
		if b, ok := jsonFlag(raw); ok {
			t.StatusSuccess = &b
			break
		}
	}
	if t.V2 != nil {
		t.V2.StatusSuccess = t.StatusSuccess
	}
	if t.V1 != nil {
		if t.ChunkCount == 0 {
			if n := jsonCount(f.ChunkCount); n > 0 {
				t.ChunkCount = n
			}
		}
		if t.FileSize == 0 {
			if n, ok := jsonInt64(f.FileSize); ok {
				t.FileSize = n
			}
		}
	}
}

// jsonFlag reads a success flag: true/false, or a string such as
// SUCCESS/ERROR, Y/N, true/false in any case.
func jsonFlag(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil && len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return b, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false, false
	}
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SUCCESS", "TRUE", "Y", "YES", "1":
		return true, true
	case "ERROR", "FAILURE", "FAILED", "FALSE", "N", "NO", "0":
		return false, true
	}
	return false, false
}

// jsonInt64 reads a number or a numeric string.
func jsonInt64(raw json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	i, err := n.Int64()
	return i, err == nil && i >= 0
}

func trackingV2(v *TrackingV2) Tracking {
	return Tracking{
		MessageID:         v.MessageID,
		LocalID:           v.LocalID,
		WorkflowID:        v.WorkflowID,
		FileName:          v.Filename,
		Status:            normaliseStatus(v.Status),
		StatusCode:        v.StatusCode,
		StatusEvent:       v.StatusEvent,
		StatusDescription: v.StatusDescription,
		StatusSuccess:     v.StatusSuccess,
		StatusTime:        parseMeshTime(v.StatusTimestamp),
		UploadTime:        parseMeshTime(v.UploadTimestamp),
		ExpiryTime:        parseMeshTime(v.ExpiryTime),
		Recipient:         v.Recipient,
		RecipientName:     v.RecipientName,
		RecipientODSCode:  v.RecipientODSCode,
		RecipientOrgCode:  v.RecipientOrgCode,
		RecipientOrgName:  v.RecipientOrgName,
		V2:                v,
	}
}

func trackingV1(v *TrackingV1) Tracking {
	// StatusSuccess ("SUCCESS"/"ERROR") is set by fill.
	return Tracking{
		MessageID:         firstNonEmpty(v.MessageID, v.DTSID),
		LocalID:           v.LocalID,
		WorkflowID:        v.WorkflowID,
		FileName:          v.FileName,
		Status:            normaliseStatus(v.Status),
		StatusCode:        v.StatusCode,
		StatusEvent:       v.StatusEvent,
		StatusDescription: v.StatusDescription,
		StatusTime:        parseMeshTime(v.StatusTimestamp),
		UploadTime:        parseMeshTime(v.UploadTimestamp),
		ExpiryTime:        parseMeshTime(v.ExpiryTime),
		Recipient:         v.Recipient,
		RecipientName:     v.RecipientName,
		RecipientODSCode:  v.MeshRecipientODSCode,
		RecipientOrgCode:  v.RecipientOrgCode,
		RecipientOrgName:  v.RecipientOrgName,
		Sender:            v.Sender,
		MessageType:       strings.ToUpper(strings.TrimSpace(v.MessageType)),
		LinkedMessageID:   v.LinkedMsgID,
		Checksum:          v.Checksum,
		ChunkCount:        v.ChunkCount,
		FileSize:          v.FileSize,
		V1:                v,
	}
}

// normaliseStatus lower-cases a tracking status and joins its words with
// nothing ("Accepted", "ACCEPTED", " accepted " are all "accepted").
func normaliseStatus(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// parseMeshTime reads a MESH time as UTC unless it names a zone; the zero
// time when it is empty or unreadable. v2 answers use ISO 8601 (with or
// without a zone, "Z", "+01:00", "+0100" or "+01", and a fraction; "T" or
// a space between date and time), v1 answers and headers yyyyMMddHHmmss,
// which the SPEC's v2 examples use too; a fraction after it ("…ss.fff" or
// more digits) and a minute-precision yyyyMMddHHmm are read as well.
func parseMeshTime(s string) time.Time {
	s = asciiUpper(strings.TrimSpace(s))
	if s == "" {
		return time.Time{}
	}
	if t, ok := parseCompactTime(s); ok {
		return t
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	for _, layout := range [...]string{
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05Z07",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
	} {
		// A fraction after the seconds is accepted by every layout.
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// parseCompactTime reads yyyyMMddHHmm[ss[fraction]], with the fraction as
// more digits or after a dot.
func parseCompactTime(s string) (time.Time, bool) {
	digits, frac, _ := strings.Cut(s, ".")
	if !allDigits(digits) || (frac != "" && !allDigits(frac)) {
		return time.Time{}, false
	}
	switch {
	case len(digits) == 12 && frac == "":
		t, err := time.Parse(TimestampLayout, digits)
		return t, err == nil
	case len(digits) >= 14:
		if len(digits) > 14 {
			if frac != "" {
				return time.Time{}, false
			}
			frac = digits[14:]
		}
		t, err := time.Parse(StatusTimestampLayout, digits[:14])
		if err != nil || len(frac) > 9 {
			return time.Time{}, false
		}
		ns, _ := strconv.Atoi((frac + "000000000")[:9])
		return t.Add(time.Duration(ns)), true
	}
	return time.Time{}, false
}
