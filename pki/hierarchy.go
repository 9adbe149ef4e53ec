package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Defaults used when the corresponding option is zero.
const (
	defaultName       = "meshdoctor"
	defaultKeyBits    = 2048
	minKeyBits        = 2048
	defaultCAValidity = 10 * 365 * 24 * time.Hour
	backdate          = time.Hour
)

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// TLSCertificate returns k as a tls.Certificate: the leaf DER followed by the
// DER of each chain certificate, with PrivateKey and Leaf set.
func (k KeyPair) TLSCertificate(chain ...*x509.Certificate) tls.Certificate {
	var tc tls.Certificate
	if k.Cert != nil {
		tc.Certificate = append(tc.Certificate, k.Cert.Raw)
		tc.Leaf = k.Cert
	}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	if k.Key != nil {
		tc.PrivateKey = k.Key
	}
	return tc
}

// Hierarchy is a test CA hierarchy shaped like Spine's G2 PKI: a self-signed
// root, one sub-CA under it (basic constraints pathlen:1, as Spine's G2 sub-CAs
// carry), and leaves issued by the sub-CA.
type Hierarchy struct {
	Root  KeyPair
	SubCA KeyPair

	keyBits int // RSA size for leaf keys; zero means the default
}

// HierarchyOptions configures NewHierarchy. Zero values select defaults.
type HierarchyOptions struct {
	// Name prefixes the CA common names: the root is "<Name> Root Authority G2"
	// and the sub-CA "<Name> Authentication G2". Default "meshdoctor".
	Name string
	// NotBefore is the start of the CAs' validity. Default now - 1h.
	NotBefore time.Time
	// Validity is the CAs' lifetime. Default 10 years.
	Validity time.Duration
	// KeyBits is the RSA key size for the CAs and the leaves issued later.
	// Default 2048; smaller values are refused.
	KeyBits int
}

// NewHierarchy creates a root CA and a sub-CA. Subjects follow Spine G2:
// C=GB, O=nhs, OU=CA, CN=<see HierarchyOptions.Name>.
func NewHierarchy(opts HierarchyOptions) (*Hierarchy, error) {
	if opts.Name == "" {
		opts.Name = defaultName
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-backdate)
	}
	if opts.Validity == 0 {
		opts.Validity = defaultCAValidity
	}
	if opts.Validity < 0 {
		return nil, errors.New("new hierarchy: negative validity")
	}
	if opts.KeyBits == 0 {
		opts.KeyBits = defaultKeyBits
	}
	if opts.KeyBits < minKeyBits {
		return nil, fmt.Errorf("new hierarchy: RSA key size %d is below the minimum %d", opts.KeyBits, minKeyBits)
	}
	notAfter := opts.NotBefore.Add(opts.Validity)

	root, err := issue(opts.KeyBits, &x509.Certificate{
		Subject:               caName(opts.Name + " Root Authority G2"),
		NotBefore:             opts.NotBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("new hierarchy: root CA: %w", err)
	}
	sub, err := issue(opts.KeyBits, &x509.Certificate{
		Subject:               caName(opts.Name + " Authentication G2"),
		NotBefore:             opts.NotBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}, &root)
	if err != nil {
		return nil, fmt.Errorf("new hierarchy: sub-CA: %w", err)
	}
	return &Hierarchy{Root: root, SubCA: sub, keyBits: opts.KeyBits}, nil
}

func caName(cn string) pkix.Name {
	return pkix.Name{
		Country:            []string{"GB"},
		Organization:       []string{"nhs"},
		OrganizationalUnit: []string{"CA"},
		CommonName:         cn,
	}
}

// LeafOptions configures IssueServer and IssueClient. Zero values select
// defaults.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// NotBefore defaults to now - 1h, or to NotAfter - 1 year when NotAfter is
	// set earlier than that (so an expired certificate needs only NotAfter).
	NotBefore time.Time
	// NotAfter defaults to NotBefore + 1 year. Set it in the past to issue an
	// expired certificate.
	NotAfter time.Time
	// SignatureAlgorithm is the sub-CA's signature over the leaf. Default
	// SHA256WithRSA; SHA1WithRSA is allowed (for fault fixtures).
	SignatureAlgorithm x509.SignatureAlgorithm
}

// IssueServer issues a TLS server certificate from the sub-CA: EKU serverAuth,
// KU digitalSignature|keyEncipherment, SANs from opts.
func (h *Hierarchy) IssueServer(opts LeafOptions) (KeyPair, error) {
	kp, err := h.issueLeaf(opts, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return kp, nil
}

// IssueClient issues a TLS client certificate from the sub-CA: EKU clientAuth,
// KU digitalSignature|keyEncipherment. MESH client CNs look like
// ClientCommonName's output, e.g. "X26ABC1.X26.api.mesh-client.nhs.uk".
func (h *Hierarchy) IssueClient(opts LeafOptions) (KeyPair, error) {
	kp, err := h.issueLeaf(opts, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue client certificate: %w", err)
	}
	return kp, nil
}

// ClientCommonName returns the MESH client certificate CN for a mailbox ID (or
// local ID) and an ODS code: "<id>.<ods>.api.mesh-client.nhs.uk". The parts
// are used as given.
func ClientCommonName(mailboxOrLocalID, odsCode string) string {
	return mailboxOrLocalID + "." + odsCode + ".api.mesh-client.nhs.uk"
}

// Chain returns the CA certificates, sub-CA first then root. A TLS peer sends
// only its leaf and the sub-CA (h.SubCA.Cert); the root is the trust anchor
// and is not sent.
func (h *Hierarchy) Chain() []*x509.Certificate {
	return []*x509.Certificate{h.SubCA.Cert, h.Root.Cert}
}

// Pool returns a pool holding the root and the sub-CA, for verification.
func (h *Hierarchy) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(h.Root.Cert)
	p.AddCert(h.SubCA.Cert)
	return p
}

func (h *Hierarchy) issueLeaf(opts LeafOptions, eku x509.ExtKeyUsage) (KeyPair, error) {
	if h == nil || h.SubCA.Cert == nil || h.SubCA.Key == nil {
		return KeyPair{}, errors.New("hierarchy has no sub-CA")
	}
	if opts.CommonName == "" && len(opts.DNSNames) == 0 && len(opts.IPs) == 0 {
		return KeyPair{}, errors.New("no common name or subject alternative name")
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-backdate)
		if !opts.NotAfter.IsZero() && opts.NotAfter.Before(opts.NotBefore) {
			opts.NotBefore = opts.NotAfter.AddDate(-1, 0, 0)
		}
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = opts.NotBefore.AddDate(1, 0, 0)
	}
	if opts.NotAfter.Before(opts.NotBefore) {
		return KeyPair{}, errors.New("NotAfter is before NotBefore")
	}
	bits := h.keyBits
	if bits == 0 {
		bits = defaultKeyBits
	}
	return issue(bits, &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.CommonName},
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPs,
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
		SignatureAlgorithm:    opts.SignatureAlgorithm,
	}, &h.SubCA)
}

// issue generates an RSA key and a certificate from tmpl, signed by parent, or
// self-signed when parent is nil. It fills in the serial number.
func issue(bits int, tmpl *x509.Certificate, parent *KeyPair) (KeyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate serial number: %w", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))

	issuerCert, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuerCert, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), signer)
	if err != nil {
		return KeyPair{}, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, fmt.Errorf("parse new certificate: %w", err)
	}
	return KeyPair{Cert: cert, Key: key}, nil
}
