package pki

import "errors"

// Sentinel errors, matched with errors.Is. Functions wrap them with context.
var (
	// ErrWrongPassword means a PKCS#12 file's password is wrong: its MAC did
	// not verify, or (for files without a MAC) decryption failed.
	ErrWrongPassword = errors.New("incorrect password")
	// ErrNoPrivateKey means the input holds no private key.
	ErrNoPrivateKey = errors.New("no private key")
	// ErrNoCertificate means the input holds no certificate.
	ErrNoCertificate = errors.New("no certificate")
	// ErrEncryptedKey means a PEM private key is password-protected; meshdoctor
	// reads only unencrypted PEM keys.
	ErrEncryptedKey = errors.New("private key is encrypted")
)
