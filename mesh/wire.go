package mesh

import (
	"fmt"
	"strconv"
	"strings"
)

// PathPrefix starts every MESH API path.
const PathPrefix = "/messageexchange"

// Accept values that select the API version (mesh-api.md §3.0).
const (
	AcceptV1 = "application/vnd.mesh.v1+json"
	AcceptV2 = "application/vnd.mesh.v2+json"
)

// Header names, in the spelling of the MESH specification. HTTP header names
// are case-insensitive; Go canonicalises them on the wire.
const (
	HeaderAuthorization     = "Authorization"
	HeaderClientVersion     = "Mex-ClientVersion"
	HeaderOSName            = "Mex-OSName"
	HeaderOSVersion         = "Mex-OSVersion"
	HeaderOSArchitecture    = "Mex-OSArchitecture"
	HeaderJavaVersion       = "Mex-JavaVersion"
	HeaderTo                = "Mex-To"
	HeaderFrom              = "Mex-From"
	HeaderWorkflowID        = "Mex-WorkflowID"
	HeaderChunkRange        = "Mex-Chunk-Range"
	HeaderTotalChunks       = "Mex-Total-Chunks"
	HeaderSubject           = "Mex-Subject"
	HeaderLocalID           = "Mex-LocalID"
	HeaderFileName          = "Mex-FileName"
	HeaderChecksum          = "Mex-Content-Checksum"
	HeaderContentCompressed = "Mex-Content-Compressed"
	HeaderContentEncrypted  = "Mex-Content-Encrypted"
	HeaderContentType       = "Mex-Content-Type"
	HeaderPartnerID         = "Mex-PartnerID"
	HeaderMessageID         = "Mex-MessageID"
	HeaderMessageType       = "Mex-MessageType"
	HeaderAddressType       = "Mex-AddressType"
	HeaderVersion           = "Mex-Version"
	HeaderStatusCode        = "Mex-StatusCode"
	HeaderStatusEvent       = "Mex-StatusEvent"
	HeaderStatusSuccess     = "Mex-StatusSuccess"
	HeaderStatusDescription = "Mex-StatusDescription"
	HeaderStatusTimestamp   = "Mex-StatusTimestamp"
	HeaderLinkedMsgID       = "Mex-LinkedMsgID"
)

// Message types.
const (
	MessageTypeData   = "DATA"
	MessageTypeReport = "REPORT"
)

// StatusTimestampLayout is the layout of Mex-StatusTimestamp and of v1
// tracking times (yyyyMMddHHmmss, UTC).
const StatusTimestampLayout = "20060102150405"

// ChunkRange is the value of Mex-Chunk-Range: chunk Index of Total.
type ChunkRange struct {
	Index int
	Total int
}

func (c ChunkRange) String() string { return strconv.Itoa(c.Index) + ":" + strconv.Itoa(c.Total) }

// ChunkRangeError is a Mex-Chunk-Range value that cannot be read.
type ChunkRangeError struct {
	Value  string
	Reason string
}

func (e *ChunkRangeError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", HeaderChunkRange, e.Value, e.Reason)
}

// maxChunkRangeLen is the longest value MESH accepts for the header.
const maxChunkRangeLen = 20

// ParseChunkRange reads "k:n" with 1 ≤ k ≤ n. White space around the numbers
// is not allowed: MESH compares the header with the URL literally.
func ParseChunkRange(s string) (ChunkRange, error) {
	bad := func(reason string) (ChunkRange, error) {
		return ChunkRange{}, &ChunkRangeError{Value: s, Reason: reason}
	}
	if len(s) > maxChunkRangeLen {
		return bad("longer than 20 characters")
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return bad("want k:n")
	}
	if !allDigits(a) || !allDigits(b) {
		return bad("chunk numbers must be digits")
	}
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return bad("chunk number too large")
	}
	if k < 1 || n < 1 {
		return bad("chunk numbers start at 1")
	}
	if k > n {
		return bad("chunk number is greater than the total")
	}
	return ChunkRange{Index: k, Total: n}, nil
}

// FormatFlag writes a boolean mex flag the way MESH does ("Y" or "N").
func FormatFlag(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// ParseFlag reads a mex flag: Y, YES, TRUE or 1 in any case are true.
func ParseFlag(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "Y", "YES", "TRUE", "1":
		return true
	}
	return false
}

// SendResponseV1 is the v1 body of a 202 to a send (messageID) or to a chunk
// upload (messageID and blockId).
type SendResponseV1 struct {
	MessageID string `json:"messageID"`
	BlockID   int    `json:"blockId,omitempty"`
}

// SendResponseV2 is the v2 body of a 202 to a send.
type SendResponseV2 struct {
	MessageID string `json:"message_id"`
}

// HandshakeResponseV1 is the v1 body of a handshake; v2 has none.
type HandshakeResponseV1 struct {
	MailboxID string `json:"mailboxId"`
}

// AckResponseV1 is the v1 body of an acknowledgement; v2 has none.
type AckResponseV1 struct {
	MessageID string `json:"messageId"`
}

// InboxV1 is the v1 inbox listing.
type InboxV1 struct {
	Messages []string `json:"messages"`
}

// InboxV2 is the v2 inbox listing. Links are paths relative to the host.
type InboxV2 struct {
	Messages         []string   `json:"messages"`
	Links            InboxLinks `json:"links"`
	ApproxInboxCount int        `json:"approx_inbox_count"`
}

// InboxLinks are the v2 pagination links.
type InboxLinks struct {
	Self string `json:"self"`
	Next string `json:"next,omitempty"`
}

// CountV1 is the deprecated v1 inbox count.
type CountV1 struct {
	Count              int    `json:"count"`
	InternalID         string `json:"internalID"`
	AllResultsIncluded bool   `json:"allResultsIncluded"`
}

// CountV2 is the deprecated v2 inbox count.
type CountV2 struct {
	Count int `json:"count"`
}

// TrackingV2 is a v2 tracking record (snake_case, lower-case status).
type TrackingV2 struct {
	MessageID         string `json:"message_id"`
	LocalID           string `json:"local_id,omitempty"`
	WorkflowID        string `json:"workflow_id"`
	Filename          string `json:"filename,omitempty"`
	ExpiryTime        string `json:"expiry_time,omitempty"`
	UploadTimestamp   string `json:"upload_timestamp,omitempty"`
	Recipient         string `json:"recipient"`
	RecipientName     string `json:"recipient_name,omitempty"`
	RecipientODSCode  string `json:"recipient_ods_code,omitempty"`
	RecipientOrgCode  string `json:"recipient_org_code,omitempty"`
	RecipientOrgName  string `json:"recipient_org_name,omitempty"`
	StatusSuccess     *bool  `json:"status_success"`
	Status            string `json:"status"`
	StatusEvent       string `json:"status_event,omitempty"`
	StatusTimestamp   string `json:"status_timestamp,omitempty"`
	StatusDescription string `json:"status_description,omitempty"`
	StatusCode        string `json:"status_code,omitempty"`
}

// TrackingV1 is a v1 tracking record (camelCase, Title-case status,
// yyyyMMddHHmmss times).
type TrackingV1 struct {
	AddressType            string `json:"addressType"`
	Checksum               string `json:"checksum"`
	ChunkCount             int    `json:"chunkCount"`
	CompressFlag           string `json:"compressFlag"`
	ContentEncoding        string `json:"contentEncoding"`
	DownloadTimestamp      string `json:"downloadTimestamp"`
	DTSID                  string `json:"dtsId"`
	EncryptedFlag          string `json:"encryptedFlag"`
	ExpiryTime             string `json:"expiryTime"`
	FailureDate            string `json:"failureDate"`
	FailureDiagnostic      string `json:"failureDiagnostic"`
	FileName               string `json:"fileName"`
	FileSize               int64  `json:"fileSize"`
	IsCompressed           string `json:"isCompressed"`
	LinkedMsgID            string `json:"linkedMsgId"`
	LocalID                string `json:"localId"`
	MeshRecipientODSCode   string `json:"meshRecipientOdsCode"`
	MessageID              string `json:"messageId"`
	MessageType            string `json:"messageType"`
	PartnerID              string `json:"partnerId"`
	Recipient              string `json:"recipient"`
	RecipientBillingEntity string `json:"recipientBillingEntity"`
	RecipientName          string `json:"recipientName"`
	RecipientOrgCode       string `json:"recipientOrgCode"`
	RecipientOrgName       string `json:"recipientOrgName"`
	RecipientSMTP          string `json:"recipientSmtp"`
	Sender                 string `json:"sender"`
	SenderBillingEntity    string `json:"senderBillingEntity"`
	SenderName             string `json:"senderName"`
	SenderODSCode          string `json:"senderOdsCode"`
	SenderOrgCode          string `json:"senderOrgCode"`
	SenderOrgName          string `json:"senderOrgName"`
	SenderSMTP             string `json:"senderSmtp"`
	Status                 string `json:"status"`
	StatusCode             string `json:"statusCode"`
	StatusDescription      string `json:"statusDescription"`
	StatusEvent            string `json:"statusEvent"`
	StatusSuccess          string `json:"statusSuccess"`
	StatusTimestamp        string `json:"statusTimestamp"`
	Subject                string `json:"subject"`
	UploadTimestamp        string `json:"uploadTimestamp"`
	Version                string `json:"version"`
	WorkflowID             string `json:"workflowId"`
}

// LookupV1 is the v1 endpoint lookup answer.
type LookupV1 struct {
	QueryID string           `json:"query_id"`
	Results []LookupResultV1 `json:"results"`
}

// LookupResultV1 is one mailbox in a v1 endpoint lookup.
type LookupResultV1 struct {
	Address      string `json:"address"`
	Description  string `json:"description"`
	EndpointType string `json:"endpoint_type"`
}

// LookupV2 is the v2 endpoint lookup and the workflow search answer.
type LookupV2 struct {
	Results []LookupResultV2 `json:"results"`
}

// LookupResultV2 is one mailbox in a v2 lookup or workflow search.
type LookupResultV2 struct {
	MailboxID   string `json:"mailbox_id"`
	MailboxName string `json:"mailbox_name"`
}

// ErrorV1 is the v1 error body.
type ErrorV1 struct {
	MessageID        string `json:"messageID,omitempty"`
	ErrorEvent       string `json:"errorEvent"`
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
}

// ErrorV2 is the v2 error body.
type ErrorV2 struct {
	MessageID  string          `json:"message_id,omitempty"`
	InternalID string          `json:"internal_id,omitempty"`
	Detail     []ErrorDetailV2 `json:"detail"`
}

// ErrorDetailV2 is one entry of a v2 error's detail list.
type ErrorDetailV2 struct {
	Event string `json:"event"`
	Code  string `json:"code"`
	Msg   string `json:"msg"`
}
