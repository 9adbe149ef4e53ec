package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CertInfo describes a certificate the way a person checks one: names,
// validity, algorithms, usages and fingerprint.
type CertInfo struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	CommonName string    `json:"common_name"`
	DNSNames   []string  `json:"dns_names,omitempty"`
	Emails     []string  `json:"emails,omitempty"`
	Serial     string    `json:"serial"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	// SignatureAlgorithm is the issuer's signature over the certificate.
	SignatureAlgorithm string   `json:"signature_algorithm"`
	Key                string   `json:"key"`
	ExtKeyUsage        []string `json:"ext_key_usage,omitempty"`
	IsCA               bool     `json:"is_ca"`
	SelfSigned         bool     `json:"self_signed"`
	SHA256             string   `json:"sha256"`
	// SpineCA names the NHS Spine CA this certificate is, if it is one.
	SpineCA string `json:"spine_ca,omitempty"`
}

// Describe returns the facts of a certificate.
func Describe(c *x509.Certificate) CertInfo {
	info := CertInfo{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		CommonName:         c.Subject.CommonName,
		DNSNames:           c.DNSNames,
		Emails:             append(append([]string{}, c.EmailAddresses...), subjectEmails(c.Subject.Names)...),
		Serial:             strings.ToUpper(c.SerialNumber.Text(16)),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		Key:                KeyDescription(c.PublicKey),
		IsCA:               c.IsCA,
		SelfSigned:         IsSelfSigned(c),
		SHA256:             Fingerprint(c),
	}
	for _, u := range c.ExtKeyUsage {
		info.ExtKeyUsage = append(info.ExtKeyUsage, extKeyUsageName(u))
	}
	for _, u := range c.UnknownExtKeyUsage {
		info.ExtKeyUsage = append(info.ExtKeyUsage, u.String())
	}
	if ca, byName, ok := LookupSpineCA(c); ok {
		info.SpineCA = ca.CommonName + " (" + strings.Join(ca.Environments, ", ") + ")"
		if byName {
			info.SpineCA += ", recognised by name only"
		}
	}
	return info
}

// IsSelfSigned reports whether c is issued by itself (a root).
func IsSelfSigned(c *x509.Certificate) bool {
	// CheckSignature, not CheckSignatureFrom: a self-signed end-entity
	// certificate is not a CA, yet it is still its own issuer.
	// Go refuses to verify SHA-1 signatures at all; a SHA-1 certificate
	// that names itself as issuer is taken at its word.
	if string(c.RawIssuer) != string(c.RawSubject) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	}
	return fmt.Sprintf("EKU(%d)", u)
}

// AllowsClientAuth reports whether a certificate may authenticate a TLS
// client: its extended key usage names clientAuth or any, or is absent.
func AllowsClientAuth(c *x509.Certificate) bool { return allowsClientAuth(c) }

// WeakSignature reports whether a signature algorithm uses a broken hash
// (MD2, MD5, SHA-1): the certificates the internet route refuses.
func WeakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// SHA2Signature reports whether a signature algorithm uses SHA-256 or
// stronger (or is Ed25519).
func SHA2Signature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.DSAWithSHA256, x509.PureEd25519:
		return true
	}
	return false
}

// KeyDescription names a public key: "RSA 2048", "ECDSA P-256".
func KeyDescription(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// KeyStrongEnough reports whether a public key meets NHS's floor: RSA of
// 2048 bits or more, or ECDSA on P-256 or a larger curve. why says what is
// wrong when it does not.
func KeyStrongEnough(pub any) (ok bool, why string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return false, fmt.Sprintf("an RSA key of %d bits (2048 is the minimum)", k.N.BitLen())
		}
		return true, ""
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return false, fmt.Sprintf("an ECDSA key on %s (P-256 is the minimum)", k.Curve.Params().Name)
		}
		return true, ""
	}
	return false, "a " + KeyDescription(pub) + " key (NHS issues RSA)"
}

// IsFQDN reports whether name is a fully qualified domain name: two or
// more labels of letters, digits and hyphens, not a wildcard or an IP.
func IsFQDN(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	for _, r := range tld {
		if r < '0' || r > '9' {
			return true
		}
	}
	return false // an all-digit last label: an IP address
}

// MeshClientDomain is the domain under which MESH API client certificates
// are named (mesh-api.md §7.1).
const MeshClientDomain = "api.mesh-client.nhs.uk"

// FollowsMeshNaming reports whether a client certificate CN follows the
// MESH endpoint naming convention "<mailbox or local id>.<ODS code>.
// api.mesh-client.nhs.uk" (mesh-api.md §7.1).
func FollowsMeshNaming(cn string) bool {
	cn = strings.ToLower(strings.TrimSuffix(cn, "."))
	prefix, ok := strings.CutSuffix(cn, "."+MeshClientDomain)
	if !ok {
		return false
	}
	parts := strings.Split(prefix, ".")
	return len(parts) == 2 && parts[0] != "" && parts[1] != "" && IsFQDN(prefix+".x")
}
