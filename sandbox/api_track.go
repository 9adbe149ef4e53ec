package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// centralMailbox is the sender of REPORTs.
var centralMailbox = Mailbox{Name: centralMailboxName, BillingEntity: "England", ODSCode: "X26", OrgCode: "X26", OrgName: "NHS England"}

// party describes a message's sender or recipient.
func (a *api) party(id string) Mailbox {
	if id == "" {
		return centralMailbox
	}
	if mb := a.st.mailbox(id); mb != nil {
		return *mb
	}
	return Mailbox{ID: id}
}

// tracking is GET /messageexchange/{mailbox}/outbox/tracking?messageID=
// (mesh-api.md §3.9). Another mailbox's message is "not found" (404), as on
// the real service.
func (a *api) tracking(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	v, ok := lastQuery(q, "messageID")
	switch {
	case !ok:
		writeValidation(w, []fieldError{missingField("query", "messageID")})
		return
	case strings.TrimSpace(v) == "":
		writeValidation(w, []fieldError{tooShort("query", "messageID", 1)})
		return
	}
	m, err := a.st.track(c.mailbox.ID, strings.ToUpper(strings.TrimSpace(v)))
	if err != nil {
		a.failTracking(w, c, err)
		return
	}
	if c.v2 {
		writeJSON(w, c, http.StatusOK, a.trackingV2(&m))
		return
	}
	writeJSON(w, c, http.StatusOK, a.trackingV1(&m))
}

// trackingByLocalID is the deprecated GET
// /messageexchange/{mailbox}/outbox/tracking/{local_id}: v1 body only; 300
// when the local id is not unique.
func (a *api) trackingByLocalID(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	found := a.st.trackByLocalID(c.mailbox.ID, c.params[1])
	switch len(found) {
	case 0:
		a.failTracking(w, c, errNoMessage)
	case 1:
		v1 := *c
		v1.v2 = false
		writeJSON(w, &v1, http.StatusOK, a.trackingV1(&found[0]))
	default:
		a.fail(w, c, apiError{status: http.StatusMultipleChoices, event: "SEND",
			desc: "More than one message has this local id; track by message id"})
	}
}

func (a *api) failTracking(w http.ResponseWriter, c *reqCtx, err error) {
	if errors.Is(err, errNoMessage) {
		a.fail(w, c, errDLMissing)
		return
	}
	a.fail(w, c, apiError{status: http.StatusInternalServerError, desc: err.Error()})
}

// ts14 writes a v1 time (yyyyMMddHHmmss, UTC); "" for none.
func ts14(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(mesh.StatusTimestampLayout)
}

func flagY(b bool) string {
	if b {
		return "Y"
	}
	return ""
}

func successWord(m *msgMeta) string {
	if m.Type == mesh.MessageTypeData && m.Err == nil {
		return "SUCCESS"
	}
	return "ERROR"
}

func titleCase(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

func (a *api) trackingV1(m *msgMeta) mesh.TrackingV1 {
	rcp, snd := a.party(m.Recipient), a.party(m.Sender)
	fileName := m.FileName
	if fileName == "" {
		fileName = m.ID + ".dat"
	}
	t := mesh.TrackingV1{
		AddressType:            "ALL",
		Checksum:               m.Checksum,
		ChunkCount:             m.Total,
		CompressFlag:           flagY(m.Compressed),
		ContentEncoding:        m.Encoding,
		DownloadTimestamp:      ts14(m.Acked),
		DTSID:                  m.ID,
		EncryptedFlag:          flagY(m.Encrypted),
		ExpiryTime:             ts14(m.inboxExpiryTime()),
		FileName:               fileName,
		FileSize:               m.fileSize(),
		IsCompressed:           flagY(m.Compressed),
		LocalID:                m.LocalID,
		MeshRecipientODSCode:   rcp.ODSCode,
		MessageID:              m.ID,
		MessageType:            titleCase(m.Type),
		PartnerID:              m.PartnerID,
		Recipient:              m.Recipient,
		RecipientBillingEntity: rcp.BillingEntity,
		RecipientName:          rcp.Name,
		RecipientOrgCode:       rcp.OrgCode,
		RecipientOrgName:       rcp.OrgName,
		Sender:                 m.Sender,
		SenderBillingEntity:    snd.BillingEntity,
		SenderName:             snd.Name,
		SenderODSCode:          snd.ODSCode,
		SenderOrgCode:          snd.OrgCode,
		SenderOrgName:          snd.OrgName,
		Status:                 m.Status.Title(),
		StatusSuccess:          successWord(m),
		StatusTimestamp:        ts14(m.StatusTime),
		Subject:                m.Subject,
		UploadTimestamp:        ts14(m.Created),
		Version:                "1.0",
		WorkflowID:             m.WorkflowID,
	}
	if e := m.Err; e != nil {
		t.LinkedMsgID = e.LinkedMsgID
		t.StatusCode, t.StatusEvent, t.StatusDescription = e.Code, e.Event, e.Description
		if m.Type == mesh.MessageTypeData {
			t.FailureDate, t.FailureDiagnostic = ts14(e.Time), e.Description
		}
	}
	return t
}

func (a *api) trackingV2(m *msgMeta) mesh.TrackingV2 {
	rcp := a.party(m.Recipient)
	ok := m.Type == mesh.MessageTypeData && m.Err == nil
	fileName := m.FileName
	if fileName == "" && m.Type == mesh.MessageTypeData {
		fileName = m.ID + ".dat" // as v1 and the download's mex-filename say
	}
	t := mesh.TrackingV2{
		MessageID:        m.ID,
		LocalID:          m.LocalID,
		WorkflowID:       m.WorkflowID,
		Filename:         fileName,
		ExpiryTime:       isoTime(m.inboxExpiryTime()),
		UploadTimestamp:  isoTime(m.Created),
		Recipient:        m.Recipient,
		RecipientName:    rcp.Name,
		RecipientODSCode: rcp.ODSCode,
		RecipientOrgCode: rcp.OrgCode,
		RecipientOrgName: rcp.OrgName,
		StatusSuccess:    &ok,
		Status:           m.Status.String(),
		StatusTimestamp:  isoTime(m.StatusTime),
	}
	if e := m.Err; e != nil {
		t.StatusEvent, t.StatusCode, t.StatusDescription = e.Event, e.Code, e.Description
	}
	return t
}

// endpointLookup is GET /messageexchange/endpointlookup/{ods}/{workflow}
// (mesh-api.md §3.10): the receivers of the workflow with that ODS code.
func (a *api) endpointLookup(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	ods, workflow := strings.TrimSpace(c.params[0]), strings.TrimSpace(c.params[1])
	switch {
	case ods == "":
		a.fail(w, c, apiError{status: http.StatusBadRequest, desc: "ods code missing"})
		return
	case workflow == "":
		a.fail(w, c, apiError{status: http.StatusBadRequest, desc: "workflow id missing"})
		return
	}
	found := a.st.lookup(ods, workflow)
	if c.v2 {
		writeJSON(w, c, http.StatusOK, lookupV2(found))
		return
	}
	out := mesh.LookupV1{QueryID: newMessageID(a.st.now()), Results: make([]mesh.LookupResultV1, 0, len(found))}
	for _, mb := range found {
		out.Results = append(out.Results, mesh.LookupResultV1{Address: mb.ID, Description: mb.Name, EndpointType: "MESH"})
	}
	writeJSON(w, c, http.StatusOK, out)
}

// workflowSearch is GET /messageexchange/workflowsearch/{workflow}: the
// workflow's receivers, in the v2 shape for both versions.
func (a *api) workflowSearch(w http.ResponseWriter, _ *http.Request, c *reqCtx) {
	workflow := strings.TrimSpace(c.params[0])
	if workflow == "" {
		a.fail(w, c, apiError{status: http.StatusBadRequest, desc: "workflow id missing"})
		return
	}
	writeJSON(w, c, http.StatusOK, lookupV2(a.st.lookup("", workflow)))
}

func lookupV2(found []*Mailbox) mesh.LookupV2 {
	out := mesh.LookupV2{Results: make([]mesh.LookupResultV2, 0, len(found))}
	for _, mb := range found {
		out.Results = append(out.Results, mesh.LookupResultV2{MailboxID: mb.ID, MailboxName: mb.Name})
	}
	return out
}
