// Package sandbox is meshdoctor's embedded MESH server: a faithful local
// imitation of NHS England's MESH API with its own PKI, mutual TLS, the real
// token rules, a crash-safe message store and deliberate faults, so that
// every diagnosis meshdoctor makes can be provoked on one machine.
//
// It keeps NHS's public mesh-sandbox defaults (mailboxes X26ABC1..3 with
// password "password", shared key "TestKey", port 8700) so clients written
// for that sandbox work unchanged, and is stricter where the real service is.
package sandbox

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Defaults shared with NHS's mesh-sandbox.
const (
	DefaultListen    = "127.0.0.1:8700"
	DefaultSharedKey = "TestKey"
	DefaultPassword  = "password"
	// DefaultMaxRequestBytes is MESH's limit on one request's body (100 MB).
	DefaultMaxRequestBytes = 100_000_000
)

// ClientAuth is how the sandbox asks for client certificates.
type ClientAuth string

// Client certificate policies.
const (
	// RequireClientCert: like real MESH, no handshake without a certificate
	// issued by the trusted client CA.
	RequireClientCert ClientAuth = "require"
	// RequestClientCert: a certificate is checked if sent but not demanded,
	// for tools whose admin calls carry none.
	RequestClientCert ClientAuth = "request"
	// NoClientCert: certificates are not asked for, as in NHS's mesh-sandbox.
	NoClientCert ClientAuth = "none"
)

// ParseClientAuth reads require, request or none.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch ClientAuth(s) {
	case RequireClientCert, RequestClientCert, NoClientCert:
		return ClientAuth(s), nil
	}
	return "", fmt.Errorf("unknown client-auth %q (want require, request or none)", s)
}

// Fault is a deliberate misbehaviour, each shaped like a real fault that a
// meshdoctor check must diagnose.
type Fault string

// The faults the sandbox can inject.
const (
	FaultExpiredServerCert Fault = "expired-server-cert" // server certificate past its NotAfter
	FaultUnknownServerCA   Fault = "unknown-server-ca"   // server certificate from a CA the client does not trust
	FaultSHA1ServerCert    Fault = "sha1-server-cert"    // server certificate signed with SHA-1
	FaultNoIntermediate    Fault = "no-intermediate"     // server sends its leaf without the sub-CA
	FaultUnknownClientCA   Fault = "unknown-client-ca"   // server trusts a different CA for client certificates
	FaultClockSkew         Fault = "clock-skew"          // server clock hours off: Date header and token window
	FaultRejectToken       Fault = "reject-token"        // every token refused with 403
	FaultSlow              Fault = "slow"                // every response delayed
	FaultReset             Fault = "reset"               // connection dropped during the TLS handshake
	FaultHTTP500           Fault = "http-500"            // API answers 500 with a non-JSON body
	FaultTLS10Only         Fault = "tls10-only"          // server speaks TLS 1.0 only

	// FaultExpiringClient issues the client certificate a few days from its
	// end, for the expiry warnings and alerts.
	FaultExpiringClient Fault = "expiring-client-cert"
)

var faultHelp = map[Fault]string{
	FaultExpiredServerCert: "serve a server certificate that has expired",
	FaultUnknownServerCA:   "serve a server certificate from a CA outside ca.pem",
	FaultSHA1ServerCert:    "serve a server certificate signed with SHA-1",
	FaultNoIntermediate:    "send the server certificate without its sub-CA",
	FaultUnknownClientCA:   "trust a different CA for client certificates (handshake fails with unknown_ca)",
	FaultClockSkew:         "run the server clock 3 hours fast (Date header and token window)",
	FaultRejectToken:       "refuse every Authorization token with 403",
	FaultSlow:              "delay every response by 2 seconds",
	FaultReset:             "drop every connection during the TLS handshake",
	FaultHTTP500:           "answer every API request with 500 and an XML body",
	FaultTLS10Only:         "speak TLS 1.0 only",
	FaultExpiringClient:    "issue the client certificate (client.pem, client.p12) to expire in 5 days",
}

// Faults lists every fault with a line of help, sorted by name.
func Faults() []string {
	var out []string
	for f, h := range faultHelp {
		out = append(out, fmt.Sprintf("%-20s %s", f, h))
	}
	sort.Strings(out)
	return out
}

// ParseFault reads a fault name.
func ParseFault(s string) (Fault, error) {
	f := Fault(strings.TrimSpace(s))
	if _, ok := faultHelp[f]; ok {
		return f, nil
	}
	var names []string
	for f := range faultHelp {
		names = append(names, string(f))
	}
	sort.Strings(names)
	return "", fmt.Errorf("unknown fault %q (want one of %s)", s, strings.Join(names, ", "))
}

// ClockSkew is how far the clock-skew fault moves the server's clock: more
// than the token window, so every token is judged stale.
const ClockSkew = 3 * time.Hour

// ExpiringClientLifetime is what is left of the client certificate the
// expiring-client-cert fault issues: inside cert.client's 30-day warning
// and the shipped alert rules' 7-day critical threshold.
const ExpiringClientLifetime = 5 * 24 * time.Hour

// SlowDelay is how long the slow fault holds each response.
const SlowDelay = 2 * time.Second

// Mailbox is a sandbox mailbox, in the fields of NHS's mailboxes.jsonl.
type Mailbox struct {
	ID            string `json:"mailbox_id"`
	Name          string `json:"mailbox_name"`
	BillingEntity string `json:"billing_entity"`
	ODSCode       string `json:"ods_code"`
	OrgCode       string `json:"org_code"`
	OrgName       string `json:"org_name"`
	Password      string `json:"password"`
	Active        *bool  `json:"active,omitempty"`
}

// Workflow is a sandbox workflow, in the fields of NHS's workflows.jsonl.
type Workflow struct {
	ID        string   `json:"workflow_id"`
	Senders   []string `json:"senders"`
	Receivers []string `json:"receivers"`
}

// Config is how a sandbox is started. The zero value with defaults applied
// (see Start) is a TLS sandbox on 127.0.0.1:8700 with NHS's default
// mailboxes and an in-memory store.
type Config struct {
	// Listen is the address to listen on; DefaultListen when empty. Use
	// "127.0.0.1:0" for an ephemeral port.
	Listen string
	// SharedKey signs tokens; DefaultSharedKey when empty.
	SharedKey string
	// Mailboxes and Workflows; NHS's defaults when nil.
	Mailboxes []Mailbox
	Workflows []Workflow
	// DataDir persists messages across restarts; in memory when empty.
	DataDir string
	// PKIDir keeps the sandbox PKI and the client's files across restarts;
	// a fresh PKI in memory when empty.
	PKIDir string
	// TLSCert, TLSKey and ClientCA are PEM files to use instead of the
	// sandbox's own PKI (all or none of TLSCert and TLSKey).
	TLSCert, TLSKey, ClientCA string
	// ClientAuth is the client certificate policy; RequireClientCert when empty.
	ClientAuth ClientAuth
	// Plain serves HTTP without TLS (for tools written for NHS's sandbox).
	Plain bool
	// Faults to inject.
	Faults []Fault
	// MaxRequestBytes bounds one request body; DefaultMaxRequestBytes when 0.
	MaxRequestBytes int64
	// AllowStaleTokens turns off the ±2 h token window.
	AllowStaleTokens bool
	// AllowTokenReuse turns off single-use tokens.
	AllowTokenReuse bool
	// UploadExpiry is how long a chunked upload may stay incomplete before
	// it is expired (chunks deleted, status error, listed by GET
	// /admin/uploads/expired); DefaultUploadExpiry when 0, never when
	// negative.
	UploadExpiry time.Duration
	// Now is the server's clock; time.Now when nil.
	Now func() time.Time
	// Log receives one line per request, and one per expired upload;
	// nothing is logged when nil.
	Log io.Writer
}

func (c *Config) hasFault(f Fault) bool {
	for _, have := range c.Faults {
		if have == f {
			return true
		}
	}
	return false
}
