package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
)

// Java KeyStore (JKS), the format of NHS's Java MESH client and of the
// predefined path-to-live keystores.

var (
	jksMagic   = []byte{0xFE, 0xED, 0xFE, 0xED}
	jceksMagic = []byte{0xCE, 0xCE, 0xCE, 0xCE}
)

// jksProtection is fixed by the format: a SHA-1 keyed digest over the file
// and Sun's SHA-1 based key protection. NHS's Java MESH client reads JKS, so
// this is reported, not warned about.
var jksProtection = Protection{
	MAC:            "JKS SHA-1 integrity digest",
	CertEncryption: "none (JKS stores certificates in the clear)",
	KeyEncryption:  "Sun JKS key protection (SHA-1 based)",
}

// scanJKS walks the JKS structure, checking every length against what is
// left, before keystore-go reads it: that library allocates whatever a
// length field says, so a corrupt or hostile file must be stopped here.
func scanJKS(data []byte) error {
	r := jksReader{b: data}
	r.skip(4) // magic
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: fmt.Sprintf("version %d", version)}
	}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		tag := r.u32()
		r.skip(int(r.u16())) // alias
		r.skip(8)            // creation time
		cert := func() {
			if version == 2 {
				r.skip(int(r.u16())) // certificate type
			}
			r.skip(int(r.u32()))
		}
		switch tag {
		case 1: // private key entry
			r.skip(int(r.u32()))
			certs := r.u32()
			if r.err == nil && uint64(certs)*4 > uint64(len(r.b)) {
				r.err = ErrTruncated
			}
			for j := uint32(0); j < certs && r.err == nil; j++ {
				cert()
			}
		case 2: // trusted certificate entry
			cert()
		default:
			if r.err == nil {
				return &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: fmt.Sprintf("entry %d has unknown tag %d", i+1, tag)}
			}
		}
	}
	r.skip(20) // SHA-1 digest
	if r.err != nil {
		return &KeystoreError{Kind: ErrTruncated, Format: FormatJKS, Detail: "the file ends inside its entries",
			Fix: "Copy the keystore again (in binary mode, not as text), or download it again."}
	}
	if len(r.b) > 0 {
		return &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: fmt.Sprintf("%d unexpected bytes after the end", len(r.b))}
	}
	return nil
}

type jksReader struct {
	b   []byte
	err error
}

func (r *jksReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = ErrTruncated
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *jksReader) skip(n int) { r.take(n) }

func (r *jksReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *jksReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func parseJKS(data []byte, password string) (st *Store, err error) {
	if err := scanJKS(data); err != nil {
		return nil, err
	}
	// keystore-go trusts the structure scanJKS has checked; recover
	// anyway, so that a file it mishandles is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: fmt.Sprint("unreadable: ", r)}
		}
	}()
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
		if strings.Contains(err.Error(), "invalid digest") {
			return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatJKS, Detail: "the keystore's integrity digest did not verify (or the file was altered)"}
		}
		return nil, &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: err.Error(), Err: err}
	}
	st = &Store{Format: FormatJKS, Protection: jksProtection}
	for _, alias := range ks.Aliases() {
		switch {
		case ks.IsPrivateKeyEntry(alias):
			pke, err := ks.GetPrivateKeyEntry(alias, []byte(password))
			if err != nil {
				return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatJKS,
					Detail: fmt.Sprintf("the key of entry %q did not decrypt with the keystore password; its key password differs", alias),
					Fix:    "Give the entry's key the keystore's password: keytool -keypasswd -alias " + alias + " -keystore FILE"}
			}
			key, err := x509.ParsePKCS8PrivateKey(pke.PrivateKey)
			if err != nil {
				return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatJKS, Detail: fmt.Sprintf("entry %q: private key: %v", alias, err), Err: err}
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatJKS, Detail: fmt.Sprintf("entry %q: key type %T", alias, key)}
			}
			e := Entry{Alias: alias, Key: signer}
			for i, c := range pke.CertificateChain {
				cert, err := x509.ParseCertificate(c.Content)
				if err != nil {
					return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatJKS, Detail: fmt.Sprintf("entry %q: certificate %d: %v", alias, i+1, err), Err: err}
				}
				e.Chain = append(e.Chain, cert)
			}
			st.Entries = append(st.Entries, e)
		case ks.IsTrustedCertificateEntry(alias):
			tce, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, &KeystoreError{Kind: ErrUnknownFormat, Format: FormatJKS, Detail: err.Error(), Err: err}
			}
			cert, err := x509.ParseCertificate(tce.Certificate.Content)
			if err != nil {
				return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatJKS, Detail: fmt.Sprintf("entry %q: certificate: %v", alias, err), Err: err}
			}
			st.Entries = append(st.Entries, Entry{Alias: alias, Chain: []*x509.Certificate{cert}})
		}
	}
	return st, nil
}

// EncodeJKS writes entries as a Java KeyStore protected by password (the
// keys under the same password, as keytool does by default). Entries with
// a key become private key entries, the others trusted certificate entries.
func EncodeJKS(entries []Entry, password string) ([]byte, error) {
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	now := time.Now()
	for _, e := range entries {
		if e.Alias == "" || len(e.Chain) == 0 {
			return nil, errors.New("encode JKS: every entry needs an alias and a certificate")
		}
		var chain []keystore.Certificate
		for _, c := range e.Chain {
			chain = append(chain, keystore.Certificate{Type: "X509", Content: c.Raw})
		}
		if e.Key == nil {
			if err := ks.SetTrustedCertificateEntry(e.Alias, keystore.TrustedCertificateEntry{CreationTime: now, Certificate: chain[0]}); err != nil {
				return nil, fmt.Errorf("encode JKS: %w", err)
			}
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(e.Key)
		if err != nil {
			return nil, fmt.Errorf("encode JKS: %w", err)
		}
		if err := ks.SetPrivateKeyEntry(e.Alias, keystore.PrivateKeyEntry{CreationTime: now, PrivateKey: der, CertificateChain: chain}, []byte(password)); err != nil {
			return nil, fmt.Errorf("encode JKS: %w", err)
		}
	}
	var b bytes.Buffer
	if err := ks.Store(&b, []byte(password)); err != nil {
		return nil, fmt.Errorf("encode JKS: %w", err)
	}
	return b.Bytes(), nil
}
