package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// health answers the health routes (no auth), as NHS's sandbox does.
func (a *api) health(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	b := append(make([]byte, 0, 128), `{"env":"meshdoctor-sandbox","build_label":`...)
	b = appendJSONString(b, a.build)
	b = append(b, `,"status":"running","outcome":"Yes"}`...)
	writeRaw(w, http.StatusOK, ctJSON, b)
}

// adminReset is DELETE /admin/reset[/{mailbox}]: every message (or every
// message addressed to one mailbox) is deleted, from disk too.
func (a *api) adminReset(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	mb := strings.ToUpper(c.params[0])
	if err := a.st.reset(mb); err != nil {
		if errors.Is(err, errNoMailbox) {
			a.fail(w, c, apiError{status: http.StatusNotFound, desc: "mailbox does not exist"})
			return
		}
		a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: err.Error()})
		return
	}
	msg := "all mailboxes reset"
	if mb != "" {
		msg = "mailbox " + mb + " reset"
	}
	writeJSON(w, c, http.StatusOK, map[string]string{"message": msg})
}

// maxAdminBody bounds an admin request's JSON.
const maxAdminBody = 1 << 20

// readAdminJSON decodes an admin request body into v, answering 400 with a
// FastAPI-style body when it cannot.
func readAdminJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeValidation(w, []fieldError{{Loc: []string{"body"}, Msg: "request body could not be read: " + err.Error(), Type: "value_error"}})
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		msg := "invalid JSON: " + err.Error()
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			msg = fmt.Sprintf("field %q must be a JSON string", typ.Field)
		}
		loc := []string{"body"}
		if typ != nil && typ.Field != "" {
			loc = append(loc, typ.Field)
		}
		writeValidation(w, []fieldError{{Loc: loc, Msg: msg, Type: "value_error.jsondecode"}})
		return false
	}
	return true
}

// reportBody is POST /messageexchange/admin/report's JSON (NHS sandbox
// CreateReportRequest).
type reportBody struct {
	MailboxID       *string `json:"mailbox_id"`
	Code            *string `json:"code"`
	Description     *string `json:"description"`
	WorkflowID      *string `json:"workflow_id"`
	Subject         *string `json:"subject"`
	LocalID         *string `json:"local_id"`
	Status          *string `json:"status"`
	FileName        *string `json:"file_name"`
	LinkedMessageID *string `json:"linked_message_id"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// adminReport is POST /messageexchange/admin/report: put a REPORT into a
// mailbox's inbox. Status "undeliverable" (the default) makes an NDR (code
// 14, subject "NDR[: subject]") as newer NHS sandboxes do; "error" makes a
// report with the given code and description.
func (a *api) adminReport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var body reportBody
	if !readAdminJSON(w, r, &body) {
		return
	}
	var verrs []fieldError
	for _, f := range []struct {
		name string
		v    *string
	}{{"mailbox_id", body.MailboxID}, {"code", body.Code}, {"description", body.Description}, {"workflow_id", body.WorkflowID}} {
		if f.v == nil {
			verrs = append(verrs, missingField("body", f.name))
		}
	}
	status := "undeliverable"
	if body.Status != nil {
		status = strings.ToLower(strings.TrimSpace(*body.Status))
	}
	if status != "undeliverable" && status != "error" {
		verrs = append(verrs, fieldError{Loc: []string{"body", "status"}, Msg: `status must be "undeliverable" or "error"`, Type: "value_error"})
	}
	if verrs != nil {
		writeValidation(w, verrs)
		return
	}
	id, err := a.st.addReport(reportRequest{
		Mailbox:     strings.ToUpper(strings.TrimSpace(*body.MailboxID)),
		Undelivered: status == "undeliverable",
		Code:        *body.Code,
		Description: *body.Description,
		WorkflowID:  *body.WorkflowID,
		Subject:     str(body.Subject),
		LocalID:     str(body.LocalID),
		FileName:    str(body.FileName),
		LinkedMsgID: strings.TrimSpace(str(body.LinkedMessageID)), // as given: NHS's sandbox tests compare it exactly
	})
	switch {
	case errors.Is(err, errNoMailbox):
		a.fail(w, c, apiError{status: http.StatusNotFound, desc: "mailbox does not exist"})
		return
	case err != nil:
		a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: err.Error()})
		return
	}
	writeJSON(w, c, http.StatusOK, map[string]string{"message_id": id})
}

// eventBody is POST /admin/message/{id}/event's JSON (NHS sandbox
// AddMessageEventRequest).
type eventBody struct {
	Status          *string `json:"status"`
	Code            *string `json:"code"`
	Event           *string `json:"event"`
	Description     *string `json:"description"`
	LinkedMessageID *string `json:"linked_message_id"`
}

// adminEvent moves a message to another status, e.g. an acknowledged
// REPORT back to accepted (into the inbox again).
func (a *api) adminEvent(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var body eventBody
	if !readAdminJSON(w, r, &body) {
		return
	}
	if body.Status == nil {
		writeValidation(w, []fieldError{missingField("body", "status")})
		return
	}
	st, ok := parseStatus(*body.Status)
	if !ok || st == stUploading {
		writeValidation(w, []fieldError{{Loc: []string{"body", "status"}, Type: "value_error",
			Msg: "status must be accepted, acknowledged, undeliverable or error"}})
		return
	}
	err := a.st.addEvent(strings.ToUpper(c.params[0]), eventRequest{
		Status:      st,
		Event:       str(body.Event),
		Code:        str(body.Code),
		Description: str(body.Description),
		LinkedMsgID: strings.TrimSpace(str(body.LinkedMessageID)),
	})
	switch {
	case err == nil:
		writeEmpty(w, http.StatusOK)
	case errors.Is(err, errNoMessage):
		a.fail(w, c, errDLMissing)
	case errors.Is(err, errDataDiscarded), errors.Is(err, errIncomplete):
		a.fail(w, c, apiError{status: http.StatusConflict, desc: err.Error()})
	default:
		a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: err.Error()})
	}
}

// mailboxDetails is NHS sandbox MailboxDetails.
type mailboxDetails struct {
	MailboxID     string `json:"mailbox_id"`
	MailboxName   string `json:"mailbox_name"`
	BillingEntity string `json:"billing_entity"`
	ODSCode       string `json:"ods_code"`
	OrgCode       string `json:"org_code"`
	OrgName       string `json:"org_name"`
	Active        bool   `json:"active"`
}

// adminMailbox is GET /admin/mailbox/{id} and /messageexchange/mailbox/{id}.
func (a *api) adminMailbox(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	mb := a.st.mailbox(strings.ToUpper(c.params[0]))
	if mb == nil {
		a.fail(w, c, apiError{status: http.StatusNotFound, desc: "mailbox does not exist"})
		return
	}
	writeJSON(w, c, http.StatusOK, mailboxDetails{
		MailboxID: mb.ID, MailboxName: mb.Name, BillingEntity: mb.BillingEntity,
		ODSCode: mb.ODSCode, OrgCode: mb.OrgCode, OrgName: mb.OrgName,
		Active: mb.Active == nil || *mb.Active,
	})
}

// messageDetails is NHS sandbox MessageDetails (None fields left out).
type messageDetails struct {
	Checksum          string `json:"checksum"`
	ChunkCount        int    `json:"chunk_count"`
	ContentEncoding   string `json:"content_encoding"`
	DownloadTimestamp string `json:"download_timestamp,omitempty"`
	ExpiryTime        string `json:"expiry_time,omitempty"`
	FailureDate       string `json:"failure_date,omitempty"`
	FailureDiagnostic string `json:"failure_diagnostic,omitempty"`
	Filename          string `json:"filename"`
	FileSize          int64  `json:"file_size"`
	IsCompressed      bool   `json:"is_compressed"`
	IsEncrypted       bool   `json:"is_encrypted"`
	LinkedMsgID       string `json:"linked_msg_id,omitempty"`
	LocalID           string `json:"local_id,omitempty"`
	MessageID         string `json:"message_id"`
	MessageType       string `json:"message_type"`
	Recipient         string `json:"recipient"`
	RecipientName     string `json:"recipient_name,omitempty"`
	RecipientODSCode  string `json:"recipient_ods_code,omitempty"`
	RecipientOrgCode  string `json:"recipient_org_code,omitempty"`
	RecipientOrgName  string `json:"recipient_org_name,omitempty"`
	Sender            string `json:"sender"`
	SenderName        string `json:"sender_name,omitempty"`
	SenderODSCode     string `json:"sender_ods_code,omitempty"`
	SenderOrgCode     string `json:"sender_org_code,omitempty"`
	SenderOrgName     string `json:"sender_org_name,omitempty"`
	Status            string `json:"status"`
	StatusCode        string `json:"status_code,omitempty"`
	StatusDescription string `json:"status_description,omitempty"`
	StatusEvent       string `json:"status_event,omitempty"`
	StatusSuccess     string `json:"status_success"`
	StatusTimestamp   string `json:"status_timestamp,omitempty"`
	Subject           string `json:"subject,omitempty"`
	UploadTimestamp   string `json:"upload_timestamp,omitempty"`
	WorkflowID        string `json:"workflow_id"`
}

// adminMessage is GET /admin/message/{id}: any message, whoever sent it.
func (a *api) adminMessage(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	m, ok := a.st.messageDetails(strings.ToUpper(c.params[0]))
	if !ok {
		a.fail(w, c, errDLMissing)
		return
	}
	rcp, snd := a.party(m.Recipient), a.party(m.Sender)
	fileName := m.FileName
	if fileName == "" {
		fileName = m.ID + ".dat"
	}
	d := messageDetails{
		Checksum: m.Checksum, ChunkCount: m.Total, ContentEncoding: m.Encoding,
		DownloadTimestamp: isoTime(m.Acked), ExpiryTime: isoTime(m.inboxExpiryTime()),
		Filename: fileName, FileSize: m.fileSize(), IsCompressed: m.Compressed, IsEncrypted: m.Encrypted,
		LocalID: m.LocalID, MessageID: m.ID, MessageType: titleCase(m.Type),
		Recipient: m.Recipient, RecipientName: rcp.Name, RecipientODSCode: rcp.ODSCode,
		RecipientOrgCode: rcp.OrgCode, RecipientOrgName: rcp.OrgName,
		Sender: m.Sender, SenderName: snd.Name, SenderODSCode: snd.ODSCode,
		SenderOrgCode: snd.OrgCode, SenderOrgName: snd.OrgName,
		Status: m.Status.Title(), StatusSuccess: successWord(&m), StatusTimestamp: isoTime(m.StatusTime),
		Subject: m.Subject, UploadTimestamp: isoTime(m.Created), WorkflowID: m.WorkflowID,
	}
	if e := m.Err; e != nil {
		d.LinkedMsgID = e.LinkedMsgID
		d.StatusCode, d.StatusDescription, d.StatusEvent = e.Code, e.Description, e.Event
		if m.Type != "REPORT" {
			d.FailureDate, d.FailureDiagnostic = isoTime(e.Time), e.Description
		}
	}
	writeJSON(w, c, http.StatusOK, d)
}

// expiredUpload is one upload the sandbox expired because its last chunk
// never came (meshdoctor's own admin route).
type expiredUpload struct {
	MessageID      string `json:"message_id"`
	Sender         string `json:"sender"`
	Recipient      string `json:"recipient"`
	LocalID        string `json:"local_id,omitempty"`
	ChunksReceived int    `json:"chunks_received"`
	ChunkCount     int    `json:"chunk_count"`
	Started        string `json:"upload_timestamp"`
	Expired        string `json:"expired_timestamp"`
}

// adminExpiredUploads lists the uploads expired incomplete, oldest first.
func (a *api) adminExpiredUploads(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	out := []expiredUpload{}
	for _, m := range a.st.expiredUploads() {
		out = append(out, expiredUpload{
			MessageID: m.ID, Sender: m.Sender, Recipient: m.Recipient, LocalID: m.LocalID,
			ChunksReceived: m.received(), ChunkCount: m.Total,
			Started: isoTime(m.Created), Expired: isoTime(m.StatusTime),
		})
	}
	writeJSON(w, c, http.StatusOK, map[string]any{"expired_uploads": out})
}
