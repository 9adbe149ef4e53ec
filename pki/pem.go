package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// PEM block types.
const (
	pemCertificate       = "CERTIFICATE"
	pemPKCS8Key          = "PRIVATE KEY"
	pemPKCS1Key          = "RSA PRIVATE KEY"
	pemSEC1Key           = "EC PRIVATE KEY"
	pemEncryptedPKCS8Key = "ENCRYPTED PRIVATE KEY"
)

const encryptedKeyAdvice = "decrypt it first, e.g. with openssl pkey"

// EncodeCertificatesPEM returns the certificates as concatenated CERTIFICATE
// PEM blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		// Writing PEM to a bytes.Buffer fails only on invalid headers; there are none.
		_ = pem.Encode(&b, &pem.Block{Type: pemCertificate, Bytes: c.Raw})
	}
	return b.Bytes()
}

// EncodePrivateKeyPEM returns key as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("encode private key: %w", ErrNoPrivateKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: der}), nil
}

// ParseCertificatesPEM parses every CERTIFICATE block in data, in order, and
// skips blocks of other types. It fails with ErrNoCertificate if there are
// none.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PEM certificates: block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("parse PEM certificates: %w (no CERTIFICATE PEM block found)", ErrNoCertificate)
	}
	return certs, nil
}

// ParsePrivateKeyPEM returns the first private key in data. It reads PKCS#8
// "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" and SEC1 "EC PRIVATE KEY" blocks,
// skipping other blocks (certificates, "EC PARAMETERS"). A mislabelled block
// is accepted if its DER is one of the other two forms. Password-protected
// keys fail with ErrEncryptedKey; no key block at all fails with
// ErrNoPrivateKey.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("parse PEM private key: %w (no private key PEM block found)", ErrNoPrivateKey)
		}
		switch block.Type {
		case pemEncryptedPKCS8Key:
			return nil, fmt.Errorf("parse PEM private key: %w (PKCS#8 %q block; %s)", ErrEncryptedKey, block.Type, encryptedKeyAdvice)
		case pemPKCS8Key, pemPKCS1Key, pemSEC1Key:
			if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, fmt.Errorf("parse PEM private key: %w (legacy PEM encryption; %s)", ErrEncryptedKey, encryptedKeyAdvice)
			}
			key, err := parsePrivateKeyDER(block.Type, block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PEM private key: %q block: %w", block.Type, err)
			}
			return key, nil
		}
	}
}

// parsePrivateKeyDER parses der as the form its PEM label names, falling
// back to the other forms. On failure it reports the labelled form's error.
func parsePrivateKeyDER(label string, der []byte) (crypto.Signer, error) {
	parsers := map[string]func([]byte) (any, error){
		pemPKCS8Key: x509.ParsePKCS8PrivateKey,
		pemPKCS1Key: func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) },
		pemSEC1Key:  func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) },
	}
	key, firstErr := parsers[label](der)
	if firstErr != nil {
		for _, other := range []string{pemPKCS8Key, pemPKCS1Key, pemSEC1Key} {
			if other == label {
				continue
			}
			if k, err := parsers[other](der); err == nil {
				key, firstErr = k, nil
				break
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return signer, nil
}

// LoadPool reads a PEM file of CA certificates into a pool, for trusting
// servers (a CA bundle) or clients (a client CA file).
func LoadPool(path string) (*x509.CertPool, error) {
	data, err := ReadFile(path, "CA bundle")
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
