package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Format is a keystore's file format, found from its content.
type Format string

// The formats the loader reads.
const (
	FormatPKCS12 Format = "PKCS#12"
	FormatJKS    Format = "JKS"
	FormatPEM    Format = "PEM"
)

// Entry is one entry of a keystore: a private key with its certificate
// chain (leaf first), or a trusted certificate (Key nil, one certificate).
type Entry struct {
	// Alias is the entry's name: the JKS alias, the PKCS#12 friendly name,
	// or for PEM the leaf's common name.
	Alias string
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Leaf is the entry's certificate, nil if it has none.
func (e Entry) Leaf() *x509.Certificate {
	if len(e.Chain) == 0 {
		return nil
	}
	return e.Chain[0]
}

// Kind names what the entry is, for people: "private key", "trusted
// certificate" (a CA's), or "certificate without its private key" (an end
// entity's certificate alone: likely the client's own, its key elsewhere).
func (e Entry) Kind() string {
	switch leaf := e.Leaf(); {
	case e.Key != nil:
		return "private key"
	case leaf != nil && !leaf.IsCA:
		return "certificate without its private key"
	}
	return "trusted certificate"
}

// KeyMatches reports whether the entry's key belongs to its certificate.
func (e Entry) KeyMatches() bool {
	return e.Key != nil && e.Leaf() != nil && matchesKey(e.Leaf(), e.Key)
}

// ClientAuth reports whether the entry's certificate may authenticate a TLS
// client: its extended key usage names clientAuth, anyExtendedKeyUsage, or
// is absent (no restriction).
func (e Entry) ClientAuth() bool {
	leaf := e.Leaf()
	return leaf != nil && allowsClientAuth(leaf)
}

func allowsClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// TLSCertificate returns the entry as a client certificate for crypto/tls.
func (e Entry) TLSCertificate() tls.Certificate {
	if len(e.Chain) == 0 {
		return KeyPair{Key: e.Key}.TLSCertificate()
	}
	return KeyPair{Cert: e.Chain[0], Key: e.Key}.TLSCertificate(e.Chain[1:]...)
}

// Store is a loaded keystore.
type Store struct {
	Format  Format
	Entries []Entry
	// Protection is how the file protects itself (PKCS#12 and JKS; zero
	// for PEM, whose encryption, if any, is per key).
	Protection Protection
	// pemEncrypted records that a PEM key was encrypted.
	pemEncrypted bool
}

// NeedsPassword reports whether opening the store took its password: a
// PKCS#12 file with a MAC or encrypted contents, any JKS file (its
// integrity digest is keyed), a PEM file with an encrypted key.
func (s *Store) NeedsPassword() bool {
	switch s.Format {
	case FormatPEM:
		return s.pemEncrypted
	case FormatPKCS12:
		p := s.Protection
		return !(p.MAC == "none" && p.CertEncryption == "none" && p.KeyEncryption == "none")
	}
	return true
}

// Certificates returns every distinct certificate in the store, entry by
// entry, leaf first.
func (s *Store) Certificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range s.Entries {
		for _, c := range e.Chain {
			if !containsCert(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// Pick chooses the entry to authenticate with: the one named alias (any
// case), else the only entry with a private key, else the only one whose
// key matches a certificate that allows clientAuth. Otherwise it fails with
// ErrNoEntry, ErrNoPrivateKey or ErrAmbiguous, listing the entries.
func (s *Store) Pick(alias string) (Entry, error) {
	if alias != "" {
		for _, e := range s.Entries {
			if strings.EqualFold(e.Alias, alias) {
				if e.Key == nil {
					return Entry{}, &KeystoreError{Kind: ErrNoEntry, Format: s.Format,
						Detail: fmt.Sprintf("entry %q is a %s, not a private key; the entries are: %s", e.Alias, e.Kind(), s.List())}
				}
				return e, nil
			}
		}
		return Entry{}, &KeystoreError{Kind: ErrNoEntry, Format: s.Format,
			Detail: fmt.Sprintf("no entry named %q; the entries are: %s", alias, s.List()),
			Fix:    "Pass --alias with one of the entries that holds a private key."}
	}
	var keyed, usable []Entry
	for _, e := range s.Entries {
		if e.Key == nil {
			continue
		}
		keyed = append(keyed, e)
		if e.KeyMatches() && e.ClientAuth() {
			usable = append(usable, e)
		}
	}
	switch {
	case len(keyed) == 1:
		return keyed[0], nil
	case len(keyed) == 0:
		return Entry{}, &KeystoreError{Kind: ErrNoPrivateKey, Format: s.Format,
			Detail: fmt.Sprintf("it holds certificates only (%s)", s.List()),
			Fix:    "Use the keystore that holds your endpoint certificate with its private key (or give the key too: --key / MESH_CLIENT_KEY)."}
	case len(usable) == 1:
		return usable[0], nil
	}
	return Entry{}, &KeystoreError{Kind: ErrAmbiguous, Format: s.Format,
		Detail: "the entries are: " + s.List(),
		Fix:    "Pass --alias with the entry to use."}
}

// List names the entries and their kinds, for messages:
// "\"mesh\" (private key), \"root\" (trusted certificate)".
func (s *Store) List() string {
	if len(s.Entries) == 0 {
		return "none"
	}
	var parts []string
	for _, e := range s.Entries {
		parts = append(parts, fmt.Sprintf("%q (%s)", e.Alias, e.Kind()))
	}
	return strings.Join(parts, ", ")
}

// LoadStore reads a keystore file, of any format the loader knows, found
// by content. keyPath, when set, is a separate PEM private key for a PEM
// certificate file. Errors name the file.
func LoadStore(path, keyPath, password string) (*Store, error) {
	data, err := ReadFile(path, "keystore")
	if err != nil {
		return nil, err
	}
	if keyPath != "" {
		key, err := ReadFile(keyPath, "key file")
		if err != nil {
			return nil, err
		}
		if !isPEM(data) {
			return nil, fmt.Errorf("%s: a separate key file (%s) goes only with a PEM certificate file", path, keyPath)
		}
		if !isPEM(key) {
			return nil, fmt.Errorf("key file %s: %w", keyPath, &KeystoreError{Kind: ErrUnknownFormat, Detail: "no PEM block in it"})
		}
		data = append(append(append([]byte{}, data...), '\n'), key...)
	}
	st, err := ParseStore(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ParseStore reads a keystore: PKCS#12, JKS or PEM, recognised by content.
// A wrong password is ErrWrongPassword; a file that is cut short,
// ErrTruncated; another kind of file, ErrUnknownFormat; a BER PKCS#12,
// ErrBER. Each is a *KeystoreError whose Fix says what to do.
func ParseStore(data []byte, password string) (*Store, error) {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, &KeystoreError{Kind: ErrUnknownFormat, Detail: "the file is empty"}
	case bytes.HasPrefix(data, jksMagic):
		return parseJKS(data, password)
	case bytes.HasPrefix(data, jceksMagic):
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: "JCEKS", Detail: "a Java JCEKS keystore",
			Fix: "Convert it to PKCS#12: keytool -importkeystore -srckeystore FILE -srcstoretype JCEKS -destkeystore FILE.p12 -deststoretype PKCS12"}
	case data[0] == 0x30:
		return parsePKCS12(data, password)
	case isPEM(data):
		return parsePEM(data, password)
	}
	return nil, &KeystoreError{Kind: ErrUnknownFormat, Detail: guessFormat(data)}
}

func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

// guessFormat names a file that is not a keystore, when it can.
func guessFormat(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return "a ZIP archive: unpack it and use the keystore inside"
	case bytes.HasPrefix(data, []byte("%PDF")):
		return "a PDF document"
	case bytes.HasPrefix(data, []byte("{")) || bytes.HasPrefix(data, []byte("[")):
		return "JSON text"
	case bytes.HasPrefix(data, []byte("<")):
		return "HTML or XML: perhaps a web page saved instead of the file"
	}
	text := true
	for _, b := range data[:min(len(data), 512)] {
		if b < 0x09 || (b > 0x0d && b < 0x20) {
			text = false
			break
		}
	}
	if text {
		if _, err := decodeBase64(data); err == nil {
			return "base64 text without PEM headers: decode it (base64 -d) or add the BEGIN/END lines"
		}
		return "text without any PEM block"
	}
	return "binary data that is neither PKCS#12 nor JKS"
}

const p12ReexportFix = "Re-export it with OpenSSL 3 (the password is read from MESH_KEYSTORE_PASSWORD, never typed on the command line, and the key stays encrypted): " +
	"openssl pkcs12 -legacy -in FILE -passin env:MESH_KEYSTORE_PASSWORD -passout env:MESH_KEYSTORE_PASSWORD -out FILE.pem && " +
	"openssl pkcs12 -export -in FILE.pem -passin env:MESH_KEYSTORE_PASSWORD -passout env:MESH_KEYSTORE_PASSWORD -out FILE-new.p12 && rm FILE.pem"

// PKCS12ReexportCommand is the OpenSSL 3 command that rewrites the PKCS#12
// file at path as DER with modern algorithms (PBES2 with AES-256-CBC, an
// HMAC-SHA-256 MAC), reading the password from MESH_KEYSTORE_PASSWORD.
func PKCS12ReexportCommand(path string) string {
	cmd := strings.SplitN(p12ReexportFix, ": ", 2)[1]
	return strings.ReplaceAll(cmd, "FILE", shellQuote(path))
}

// shellQuote quotes a file name for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func parsePKCS12(data []byte, password string) (*Store, error) {
	if len(data) > 1 && data[1] == 0x80 {
		return nil, berError()
	}
	if n, ok := derLength(data); ok && n > len(data) {
		return nil, &KeystoreError{Kind: ErrTruncated, Format: FormatPKCS12,
			Detail: fmt.Sprintf("%d of %d bytes", len(data), n),
			Fix:    "Copy the keystore again (in binary mode, not as text), or download it again."}
	}
	info, err := readP12Structure(data)
	if err != nil {
		switch {
		case looksBER(data):
			return nil, berError()
		case isDERCertificate(data):
			return nil, &KeystoreError{Kind: ErrNoPrivateKey, Format: "DER certificate",
				Detail: "a single certificate, without its private key",
				Fix:    "Give the keystore that holds the certificate with its key, or the certificate with --cert and its key with --key."}
		}
		return nil, &KeystoreError{Kind: ErrUnknownFormat, Detail: "DER data that is not PKCS#12: " + err.Error(), Err: err}
	}
	if info.KeyBags > 1 {
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPKCS12,
			Detail: fmt.Sprintf("%d private keys in one file (%s)", info.KeyBags, strings.Join(quoteAll(info.KeyNames), ", ")),
			Fix:    "Export the one entry you need: keytool -importkeystore -srckeystore FILE -srcstoretype PKCS12 -srcalias ALIAS -destkeystore one.p12 -deststoretype PKCS12"}
	}
	if password == "" && info.Protection.MAC != "none" {
		return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatPKCS12, Detail: "no password was given",
			Fix: "Set MESH_KEYSTORE_PASSWORD (or MESH_KEYSTORE_PASSWORD_FILE), or choose the environment (--env) whose published password it uses."}
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		var ni pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatPKCS12, Detail: "the MAC did not verify"}
		case err.Error() == p12PrivateKeyMissing:
			return nil, &KeystoreError{Kind: ErrNoPrivateKey, Format: FormatPKCS12, Detail: "it holds certificates only (a truststore?)",
				Fix: "Use the keystore that holds your endpoint certificate with its private key."}
		case err.Error() == p12CertificateMissing:
			return nil, &KeystoreError{Kind: ErrNoCertificate, Format: FormatPKCS12, Detail: "it holds a key but no certificate"}
		case errors.As(err, &ni):
			return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPKCS12, Detail: err.Error(), Fix: p12ReexportFix, Err: err}
		}
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPKCS12, Detail: err.Error(), Fix: p12ReexportFix, Err: err}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPKCS12, Detail: fmt.Sprintf("private key type %T", key)}
	}
	if !matchesKey(leaf, signer) {
		for i, c := range chain {
			if matchesKey(c, signer) {
				chain = append([]*x509.Certificate{leaf}, append(chain[:i:i], chain[i+1:]...)...)
				leaf = c
				break
			}
		}
	}
	alias := ""
	if len(info.KeyNames) > 0 {
		alias = info.KeyNames[0]
	}
	if alias == "" {
		alias = leaf.Subject.CommonName
	}
	e := Entry{Alias: alias, Key: signer, Chain: append([]*x509.Certificate{leaf}, orderChain(leaf, chain)...)}
	return &Store{Format: FormatPKCS12, Entries: []Entry{e}, Protection: info.Protection}, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func berError() error {
	return &KeystoreError{Kind: ErrBER, Format: FormatPKCS12,
		Detail: "indefinite-length or constructed encodings, as Windows and BouncyCastle exports write; Go's PKCS#12 reader takes DER only",
		Fix:    "Re-export it as DER. " + p12ReexportFix}
}

// derLength returns the total length (header and content) the outer DER
// element declares.
func derLength(data []byte) (int, bool) {
	if len(data) < 2 {
		return 0, false
	}
	l := int(data[1])
	if l < 0x80 {
		return 2 + l, true
	}
	n := l & 0x7f
	if n == 0 || n > 4 || len(data) < 2+n {
		return 0, false
	}
	v := 0
	for _, b := range data[2 : 2+n] {
		v = v<<8 | int(b)
	}
	return 2 + n + v, true
}

// looksBER walks the ASN.1 elements of data and reports whether any uses an
// encoding DER forbids: an indefinite length or a constructed string.
func looksBER(data []byte) bool {
	ber, _ := walkBER(data, 0)
	return ber
}

func walkBER(b []byte, depth int) (ber, ok bool) {
	if depth > 32 {
		return false, false
	}
	for len(b) > 0 {
		if len(b) < 2 {
			return false, false
		}
		tag := b[0]
		i := 1
		if tag&0x1f == 0x1f { // high tag number
			for i < len(b) && b[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if i >= len(b) {
			return false, false
		}
		constructed := tag&0x20 != 0
		if constructed && (tag&0xdf == 0x04 || tag&0xdf == 0x03) { // constructed OCTET/BIT STRING
			return true, true
		}
		l := int(b[i])
		i++
		if l == 0x80 {
			return true, true
		}
		if l > 0x80 {
			n := l & 0x7f
			if n > 4 || i+n > len(b) {
				return false, false
			}
			l = 0
			for _, x := range b[i : i+n] {
				l = l<<8 | int(x)
			}
			i += n
		}
		if l < 0 || i+l > len(b) {
			return false, false
		}
		if constructed {
			if ber, _ := walkBER(b[i:i+l], depth+1); ber {
				return true, true
			}
		} else if tag == 0x04 && l > 0 && b[i] == 0x30 {
			// PKCS#12 nests structures inside OCTET STRINGs.
			if ber, _ := walkBER(b[i:i+l], depth+1); ber {
				return true, true
			}
		}
		b = b[i+l:]
	}
	return false, true
}

func isDERCertificate(data []byte) bool {
	_, err := x509.ParseCertificate(data)
	return err == nil
}

// orderChain returns the CA certificates in issuing order from leaf
// upwards, followed by any that are not on its path.
func orderChain(leaf *x509.Certificate, cas []*x509.Certificate) []*x509.Certificate {
	rest := append([]*x509.Certificate{}, cas...)
	var out []*x509.Certificate
	cur := leaf
	for len(rest) > 0 {
		next := -1
		for i, c := range rest {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = i
				break
			}
		}
		if next < 0 || bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		cur = rest[next]
		out = append(out, cur)
		rest = append(rest[:next], rest[next+1:]...)
	}
	return append(out, rest...)
}

// parsePEM reads certificates and keys (encrypted ones with password) from
// PEM blocks, in one file or two concatenated, and pairs each key with the
// certificate it belongs to.
func parsePEM(data []byte, password string) (*Store, error) {
	var certs []*x509.Certificate
	var keys []crypto.Signer
	var csr, encrypted bool
	rest := data
	for {
		start := bytes.Index(rest, []byte("-----BEGIN "))
		if start < 0 {
			break
		}
		block, after := pem.Decode(rest[start:])
		if block == nil {
			return nil, &KeystoreError{Kind: ErrTruncated, Format: FormatPEM,
				Detail: "a PEM block has no END line or damaged base64",
				Fix:    "Copy the file again in full; each -----BEGIN line needs its -----END line."}
		}
		rest = after
		switch block.Type {
		case pemCertificate, "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, &KeystoreError{Kind: ErrUnknownFormat, Format: FormatPEM, Detail: fmt.Sprintf("certificate %d: %v", len(certs)+1, err), Err: err}
			}
			certs = append(certs, c)
		case pemEncryptedPKCS8Key:
			encrypted = true
			k, err := decryptPEMKey(block, password)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		case pemPKCS8Key, pemPKCS1Key, pemSEC1Key:
			var k crypto.Signer
			var err error
			if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
				encrypted = true
				k, err = decryptPEMKey(block, password)
			} else if k, err = parsePrivateKeyDER(block.Type, block.Bytes); err != nil {
				err = &KeystoreError{Kind: ErrUnknownFormat, Format: FormatPEM, Detail: fmt.Sprintf("%s block: %v", block.Type, err), Err: err}
			}
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
			csr = true
		case "PKCS7":
			return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPEM, Detail: "a PKCS#7 certificate bundle",
				Fix: "Convert it: openssl pkcs7 -print_certs -in FILE -out certs.pem, and give the key as well."}
		}
	}
	if len(certs) == 0 {
		if csr {
			return nil, &KeystoreError{Kind: ErrNoCertificate, Format: FormatPEM, Detail: "a certificate signing request, not a certificate",
				Fix: "Send the CSR to the service desk (meshdoctor csr check FILE first) and use the certificate they send back."}
		}
		return nil, &KeystoreError{Kind: ErrNoCertificate, Format: FormatPEM, Detail: "no CERTIFICATE block",
			Fix: "Give the certificate file too (--cert, with --key for the key)."}
	}
	st := &Store{Format: FormatPEM, pemEncrypted: encrypted}
	used := map[int]bool{}
	for _, k := range keys {
		leaf := -1
		for i, c := range certs {
			if matchesKey(c, k) {
				leaf = i
				break
			}
		}
		if leaf < 0 {
			// A key that belongs to none: pair it with the first end-entity
			// certificate, so the mismatch is reported, not hidden.
			leaf = 0
			for i, c := range certs {
				if !c.IsCA {
					leaf = i
					break
				}
			}
		}
		used[leaf] = true
		var others []*x509.Certificate
		for i, c := range certs {
			if i != leaf {
				others = append(others, c)
			}
		}
		chain := append([]*x509.Certificate{certs[leaf]}, orderChain(certs[leaf], others)...)
		// Keep only the leaf's issuing path: other certificates in the
		// file become trusted entries.
		chain = chain[:pathLength(chain)]
		for _, c := range chain {
			for i, x := range certs {
				if x.Equal(c) {
					used[i] = true
				}
			}
		}
		st.Entries = append(st.Entries, Entry{Alias: aliasFor(certs[leaf], st.Entries), Key: k, Chain: chain})
	}
	for i, c := range certs {
		if !used[i] {
			st.Entries = append(st.Entries, Entry{Alias: aliasFor(c, st.Entries), Chain: []*x509.Certificate{c}})
		}
	}
	return st, nil
}

// pathLength is how many certificates from the start of chain each issue
// the one before.
func pathLength(chain []*x509.Certificate) int {
	n := 1
	for n < len(chain) && bytes.Equal(chain[n-1].RawIssuer, chain[n].RawSubject) && chain[n-1].CheckSignatureFrom(chain[n]) == nil {
		n++
	}
	return n
}

func aliasFor(c *x509.Certificate, existing []Entry) string {
	name := c.Subject.CommonName
	if name == "" {
		name = c.Subject.String()
	}
	alias := name
	for n := 2; ; n++ {
		clash := false
		for _, e := range existing {
			clash = clash || e.Alias == alias
		}
		if !clash {
			return alias
		}
		alias = fmt.Sprintf("%s (%d)", name, n)
	}
}

func decodeBase64(data []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, data)
	if len(clean) < 16 {
		return nil, errors.New("too short")
	}
	return base64.StdEncoding.DecodeString(string(clean))
}
