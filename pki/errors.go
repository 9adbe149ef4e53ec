package pki

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, matched with errors.Is. Functions wrap them with context.
var (
	// ErrWrongPassword means a keystore's password is wrong: a PKCS#12 MAC
	// or a JKS integrity digest did not verify, or (for files without one)
	// decryption failed. It is never reported as a parse error.
	ErrWrongPassword = errors.New("wrong keystore password")
	// ErrNoPrivateKey means the input holds no private key.
	ErrNoPrivateKey = errors.New("no private key")
	// ErrNoCertificate means the input holds no certificate.
	ErrNoCertificate = errors.New("no certificate")
	// ErrEncryptedKey means a PEM private key is password-protected and no
	// password was given (ParsePrivateKeyPEM never decrypts; the keystore
	// loader does when given the password).
	ErrEncryptedKey = errors.New("private key is encrypted")

	// ErrTruncated means the file ends before its own structure does: a
	// partial download or copy.
	ErrTruncated = errors.New("file is truncated")
	// ErrUnknownFormat means the file is not a keystore meshdoctor knows
	// (PKCS#12, JKS, PEM): another kind of file, or corrupted.
	ErrUnknownFormat = errors.New("not a keystore")
	// ErrBER means a PKCS#12 file uses BER (indefinite lengths or
	// constructed strings), as some Windows and BouncyCastle exports do; the
	// PKCS#12 reader accepts DER only.
	ErrBER = errors.New("BER-encoded PKCS#12")
	// ErrUnsupported means the file is a known format in a variant meshdoctor
	// cannot read (JCEKS, several keys in one PKCS#12, an unusual cipher).
	ErrUnsupported = errors.New("unsupported keystore variant")
	// ErrNoEntry means no keystore entry can be the client identity, or the
	// alias asked for is not there.
	ErrNoEntry = errors.New("no usable keystore entry")
	// ErrAmbiguous means several entries could be the client identity and
	// no alias picks one.
	ErrAmbiguous = errors.New("several keystore entries could be the client identity")
)

// KeystoreError explains why a keystore could not be used: the kind (one of
// the sentinels above, for errors.Is), what was seen, and what to do.
type KeystoreError struct {
	Kind   error
	Format Format // what the file looks like; empty when unknown
	Detail string
	// Fix is what to do, often a command to re-export the file. It never
	// holds a password: commands read it from MESH_KEYSTORE_PASSWORD.
	Fix string
	Err error // the underlying parser's error, if any
}

func (e *KeystoreError) Error() string {
	var b strings.Builder
	if e.Format != "" {
		fmt.Fprintf(&b, "%s: ", e.Format)
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	return b.String()
}

// Unwrap lets errors.Is see the kind and the underlying error.
func (e *KeystoreError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Remedy returns the fix carried by err (a *KeystoreError), or "".
func Remedy(err error) string {
	var ke *KeystoreError
	if errors.As(err, &ke) {
		return ke.Fix
	}
	return ""
}
