package mesh

import (
	"context"
	"net/http"
	"net/url"
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
	if c.version == 1 {
		v := new(TrackingV1)
		if err := c.readJSON(r, resp, v); err != nil {
			return Tracking{}, err
		}
		return trackingV1(v), nil
	}
	v := new(TrackingV2)
	if err := c.readJSON(r, resp, v); err != nil {
		return Tracking{}, err
	}
	return trackingV2(v), nil
}

func trackingV2(v *TrackingV2) Tracking {
	return Tracking{
		MessageID:         v.MessageID,
		LocalID:           v.LocalID,
		WorkflowID:        v.WorkflowID,
		FileName:          v.Filename,
		Status:            strings.ToLower(v.Status),
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
	t := Tracking{
		MessageID:         v.MessageID,
		LocalID:           v.LocalID,
		WorkflowID:        v.WorkflowID,
		FileName:          v.FileName,
		Status:            strings.ToLower(v.Status),
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
		MessageType:       strings.ToUpper(v.MessageType),
		LinkedMessageID:   v.LinkedMsgID,
		Checksum:          v.Checksum,
		ChunkCount:        v.ChunkCount,
		FileSize:          v.FileSize,
		V1:                v,
	}
	switch strings.ToUpper(v.StatusSuccess) {
	case "SUCCESS":
		t.StatusSuccess = new(true)
	case "ERROR":
		t.StatusSuccess = new(false)
	}
	return t
}

// parseMeshTime reads a MESH time as UTC unless it names a zone; the zero
// time when it is empty or unreadable. v2 answers use ISO 8601 (with or
// without a zone and fraction), v1 answers yyyyMMddHHmmss.
func parseMeshTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		StatusTimestampLayout,
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
