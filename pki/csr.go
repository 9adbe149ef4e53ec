package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// Certificate signing requests by the PTL rules (mesh-api.md A.1, §7.1):
// the CN is the endpoint's FQDN, every other subject field is blank, and
// there is no email address.

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func subjectEmails(names []pkix.AttributeTypeAndValue) []string {
	var out []string
	for _, n := range names {
		if n.Type.Equal(oidEmailAddress) {
			out = append(out, fmt.Sprint(n.Value))
		}
	}
	return out
}

// NewCSR makes an RSA 2048 key and a SHA-256 certificate signing request
// whose subject is CN=fqdn and nothing else. It refuses a name that is not
// an FQDN.
func NewCSR(fqdn string) (csrPEM []byte, key *rsa.PrivateKey, err error) {
	fqdn = strings.TrimSuffix(strings.TrimSpace(fqdn), ".")
	if !IsFQDN(fqdn) {
		return nil, nil, fmt.Errorf("%q is not a fully qualified domain name (like X26ABC1.X26.api.mesh-client.nhs.uk)", fqdn)
	}
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: fqdn},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key, nil
}

// ParseCSR reads a certificate signing request, PEM or DER.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if isPEM(data) {
		rest := data
		der = nil
		var types []string
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE REQUEST" || b.Type == "NEW CERTIFICATE REQUEST" {
				der = b.Bytes
				break
			}
			types = append(types, b.Type)
		}
		if der == nil {
			if len(types) == 0 {
				return nil, &csrError{detail: "a damaged PEM block"}
			}
			return nil, &csrError{detail: fmt.Sprintf("it holds %s, no CERTIFICATE REQUEST", strings.Join(types, ", "))}
		}
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		switch {
		case len(bytes.TrimSpace(data)) == 0:
			return nil, &csrError{detail: "the file is empty", err: err}
		case isDERCertificate(der):
			return nil, &csrError{detail: "it is a certificate", err: err}
		}
		return nil, &csrError{err: err}
	}
	return csr, nil
}

// csrError says in one line that a file is not a CSR; the parser's own
// words (ASN.1 internals) stay behind Unwrap.
type csrError struct {
	detail string
	err    error
}

func (e *csrError) Error() string {
	if e.detail == "" {
		return "not a CSR (PEM CERTIFICATE REQUEST or DER)"
	}
	return "not a CSR (PEM CERTIFICATE REQUEST or DER): " + e.detail
}

func (e *csrError) Unwrap() error { return e.err }

// Severity grades a finding.
type Severity string

// The severities, in the words of the checks.
const (
	SeverityPass Severity = "pass"
	SeverityWarn Severity = "warn"
	SeverityFail Severity = "fail"
)

// Finding is one judgement of a CSR (or certificate) against a rule.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Fix      string   `json:"fix,omitempty"`
}

const csrRedoFix = "Make a new CSR by the PTL rules: meshdoctor csr new --fqdn <mailbox>.<ODS>.api.mesh-client.nhs.uk --key-out client.key"

// CheckCSR judges a CSR by the PTL rules, one finding per rule.
func CheckCSR(csr *x509.CertificateRequest) []Finding {
	var out []Finding
	add := func(rule string, sev Severity, fix, format string, args ...any) {
		f := Finding{Rule: rule, Severity: sev, Summary: fmt.Sprintf(format, args...)}
		if sev != SeverityPass {
			f.Fix = fix
		}
		out = append(out, f)
	}
	cn := csr.Subject.CommonName
	switch {
	case cn == "":
		add("cn", SeverityFail, csrRedoFix, "the subject has no CN; the CN must be the endpoint's FQDN")
	case !IsFQDN(cn):
		add("cn", SeverityFail, csrRedoFix, "the CN %q is not a fully qualified domain name", cn)
	case !FollowsMeshNaming(cn):
		add("cn", SeverityWarn, "If this certificate is for the MESH API, name it <mailbox or local id>.<ODS code>."+MeshClientDomain+" (mesh-api.md §7.1); otherwise make sure the FQDN follows the Spine endpoint DNS naming schema.",
			"the CN %q is an FQDN but does not follow the MESH naming convention <id>.<ODS>.%s", cn, MeshClientDomain)
	default:
		add("cn", SeverityPass, "", "the CN %q is an FQDN following the MESH naming convention", cn)
	}

	var emails []string
	emails = append(emails, subjectEmails(csr.Subject.Names)...)
	emails = append(emails, csr.EmailAddresses...)
	if len(emails) > 0 {
		add("email", SeverityFail, csrRedoFix+" (it writes no email).",
			"the CSR carries an email address (%s); the PTL rules say the email field must be blank", strings.Join(emails, ", "))
	} else {
		add("email", SeverityPass, "", "no email address")
	}

	var extra []string
	for _, n := range csr.Subject.Names {
		if n.Type.Equal(oidEmailAddress) || n.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}) {
			continue
		}
		extra = append(extra, attributeName(n.Type)+"="+fmt.Sprint(n.Value))
	}
	if len(extra) > 0 {
		add("subject", SeverityWarn, csrRedoFix+" (its subject is the CN alone).",
			"the subject has fields besides the CN (%s); the PTL rules leave them blank", strings.Join(extra, ", "))
	} else {
		add("subject", SeverityPass, "", "the subject is the CN alone")
	}

	// The algorithm first: Go refuses to verify SHA-1 signatures at all,
	// which is not the same as a damaged CSR.
	if !SHA2Signature(csr.SignatureAlgorithm) {
		add("signature", SeverityFail, csrRedoFix+" (it signs with SHA-256).",
			"the CSR is signed with %s; SHA-256 or stronger is required", csr.SignatureAlgorithm)
	} else if err := csr.CheckSignature(); err != nil {
		add("signature", SeverityFail, csrRedoFix, "the CSR's signature does not verify (%v): it was altered or damaged", err)
	} else {
		add("signature", SeverityPass, "", "signature valid, %s", csr.SignatureAlgorithm)
	}

	if ok, why := KeyStrongEnough(csr.PublicKey); !ok {
		add("key", SeverityFail, csrRedoFix+" (it makes an RSA 2048 key).", "the CSR is for %s", why)
	} else {
		add("key", SeverityPass, "", "%s key", KeyDescription(csr.PublicKey))
	}
	return out
}

// SubjectString writes a name the way openssl does, in the order of the
// encoding, with the email attribute named (Go prints its OID).
func SubjectString(n pkix.Name) string {
	var parts []string
	for _, a := range n.Names {
		parts = append(parts, attributeName(a.Type)+"="+fmt.Sprint(a.Value))
	}
	return strings.Join(parts, ", ")
}

func attributeName(oid asn1.ObjectIdentifier) string {
	names := map[string]string{
		"2.5.4.3": "CN", "1.2.840.113549.1.9.1": "emailAddress",
		"2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
		"2.5.4.5": "serialNumber", "2.5.4.9": "street", "2.5.4.17": "postalCode",
	}
	if n, ok := names[oid.String()]; ok {
		return n
	}
	return oid.String()
}
