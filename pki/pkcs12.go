package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// Messages go-pkcs12 returns (as plain errors) when a bag is absent.
const (
	p12CertificateMissing = "pkcs12: certificate missing"
	p12PrivateKeyMissing  = "pkcs12: private key missing"
)

// Keystore is the content of a PKCS#12 file.
type Keystore struct {
	Key   crypto.Signer
	Leaf  *x509.Certificate   // the certificate matching Key
	Chain []*x509.Certificate // the other (CA) certificates in the file, in file order
}

// TLSCertificate returns the keystore as a tls.Certificate: Leaf then Chain
// as DER, with PrivateKey and Leaf set.
func (k Keystore) TLSCertificate() tls.Certificate {
	return KeyPair{Cert: k.Leaf, Key: k.Key}.TLSCertificate(k.Chain...)
}

// EncodePKCS12 encodes kp and chain as a PKCS#12 file using modern algorithms
// (PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256 MAC), as
// OpenSSL 3 and Java 20+ write by default.
func EncodePKCS12(kp KeyPair, chain []*x509.Certificate, password string) ([]byte, error) {
	return encodePKCS12(pkcs12.Modern2023, kp, chain, password)
}

// EncodePKCS12Legacy encodes kp and chain as a PKCS#12 file using legacy
// algorithms (certificates under 40-bit RC2, key under 3DES, HMAC-SHA-1 MAC),
// as OpenSSL 1.x wrote by default. OpenSSL 3 cannot read such files without
// its legacy provider, which makes them useful as fault fixtures.
func EncodePKCS12Legacy(kp KeyPair, chain []*x509.Certificate, password string) ([]byte, error) {
	return encodePKCS12(pkcs12.LegacyRC2, kp, chain, password)
}

func encodePKCS12(enc *pkcs12.Encoder, kp KeyPair, chain []*x509.Certificate, password string) ([]byte, error) {
	if kp.Cert == nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", ErrNoCertificate)
	}
	if kp.Key == nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", ErrNoPrivateKey)
	}
	data, err := enc.Encode(kp.Key, kp.Cert, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return data, nil
}

// DecodePKCS12 decodes a PKCS#12 file holding one private key and at least
// one certificate. A wrong password fails with ErrWrongPassword; a file
// without a key or certificate fails with ErrNoPrivateKey or
// ErrNoCertificate. The leaf is the certificate whose public key matches the
// private key wherever it sits in the file (if none matches, the first);
// Chain holds the others, in issuing order from the leaf up.
func DecodePKCS12(data []byte, password string) (Keystore, error) {
	st, err := parsePKCS12(data, password)
	if err != nil {
		return Keystore{}, fmt.Errorf("decode PKCS#12: %w", err)
	}
	e := st.Entries[0]
	return Keystore{Key: e.Key, Leaf: e.Leaf(), Chain: e.Chain[1:]}, nil
}

// matchesKey reports whether cert's public key is key's public key.
func matchesKey(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
