package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ptlPassword = "Spine2Int" // the published INT keystore password (mesh-api.md A.2)

// toBER re-encodes the outer SEQUENCE of a DER structure with an
// indefinite length, as Windows and BouncyCastle exports do.
func toBER(der []byte) []byte {
	n, _ := derLength(der)
	hdr := n - contentLength(der)
	out := append([]byte{0x30, 0x80}, der[hdr:]...)
	return append(out, 0, 0)
}

func contentLength(der []byte) int {
	n, _ := derLength(der)
	if der[1] < 0x80 {
		return n - 2
	}
	return n - 2 - int(der[1]&0x7f)
}

func mustPEMKey(t *testing.T, kp KeyPair) []byte {
	t.Helper()
	b, err := EncodePrivateKeyPEM(kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStore(t *testing.T) {
	f := testFixture(t)
	other, err := f.h.IssueClient(LeafOptions{CommonName: ClientCommonName("X26ABC2", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	modern, err := EncodePKCS12(f.client, f.h.Chain(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := EncodePKCS12Legacy(f.client, f.h.Chain(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	jks, err := EncodeJKS([]Entry{
		{Alias: "nhs ptl root", Chain: []*x509.Certificate{f.h.Root.Cert}},
		{Alias: "client", Key: f.client.Key, Chain: []*x509.Certificate{f.client.Cert, f.h.SubCA.Cert}},
		{Alias: "nhs int sub-ca", Chain: []*x509.Certificate{f.h.SubCA.Cert}},
	}, ptlPassword)
	if err != nil {
		t.Fatal(err)
	}
	jksTwo, err := EncodeJKS([]Entry{
		{Alias: "first", Key: f.client.Key, Chain: []*x509.Certificate{f.client.Cert}},
		{Alias: "second", Key: other.Key, Chain: []*x509.Certificate{other.Cert}},
	}, ptlPassword)
	if err != nil {
		t.Fatal(err)
	}
	certsPEM := EncodeCertificatesPEM(f.client.Cert, f.h.SubCA.Cert, f.h.Root.Cert)
	combined := append(append([]byte{}, certsPEM...), mustPEMKey(t, f.client)...)
	encKey, err := EncryptPrivateKeyPEM(f.client.Key, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(f.client.Key)
	//lint:ignore SA1019 a fixture of the legacy form users still have
	legacyBlock, err := x509.EncryptPEMBlock(rand.Reader, pemPKCS8Key, der, []byte(testPassword), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	legacyEncKey := pem.EncodeToMemory(legacyBlock)
	mismatched := append(EncodeCertificatesPEM(f.client.Cert), mustPEMKey(t, f.server)...)

	tests := []struct {
		name     string
		data     []byte
		password string
		alias    string
		format   Format
		entries  int
		wantErr  error
		legacy   bool // Protection.Legacy is not empty
		mismatch bool // the picked entry's key does not match
	}{
		{name: "modern PKCS#12", data: modern, password: testPassword, format: FormatPKCS12, entries: 1},
		{name: "legacy PKCS#12", data: legacy, password: testPassword, format: FormatPKCS12, entries: 1, legacy: true},
		{name: "PKCS#12 wrong password", data: modern, password: "nope", wantErr: ErrWrongPassword},
		{name: "legacy PKCS#12 wrong password", data: legacy, password: "nope", wantErr: ErrWrongPassword},
		{name: "PKCS#12 no password", data: modern, wantErr: ErrWrongPassword},
		{name: "PKCS#12 truncated", data: modern[:len(modern)/2], password: testPassword, wantErr: ErrTruncated},
		{name: "PKCS#12 BER", data: toBER(modern), password: testPassword, wantErr: ErrBER},
		{name: "JKS with the PTL password", data: jks, password: ptlPassword, format: FormatJKS, entries: 3},
		{name: "JKS wrong password", data: jks, password: "Spine2Dep", wantErr: ErrWrongPassword},
		{name: "JKS truncated", data: jks[:len(jks)-30], password: ptlPassword, wantErr: ErrTruncated},
		{name: "JKS two keys, no alias", data: jksTwo, password: ptlPassword, format: FormatJKS, entries: 2, wantErr: ErrAmbiguous},
		{name: "JKS two keys, alias", data: jksTwo, password: ptlPassword, alias: "SECOND", format: FormatJKS, entries: 2},
		{name: "JKS unknown alias", data: jksTwo, password: ptlPassword, alias: "third", format: FormatJKS, entries: 2, wantErr: ErrNoEntry},
		{name: "combined PEM", data: combined, format: FormatPEM, entries: 1},
		{name: "PEM pair (concatenated)", data: append(append([]byte{}, certsPEM...), mustPEMKey(t, f.client)...), format: FormatPEM, entries: 1},
		{name: "encrypted PEM key", data: append(append([]byte{}, certsPEM...), encKey...), password: testPassword, format: FormatPEM, entries: 1},
		{name: "encrypted PEM key wrong password", data: append(append([]byte{}, certsPEM...), encKey...), password: "nope", wantErr: ErrWrongPassword},
		{name: "encrypted PEM key no password", data: append(append([]byte{}, certsPEM...), encKey...), wantErr: ErrEncryptedKey},
		{name: "legacy encrypted PEM key", data: append(append([]byte{}, certsPEM...), legacyEncKey...), password: testPassword, format: FormatPEM, entries: 1},
		{name: "legacy encrypted PEM key wrong password", data: append(append([]byte{}, certsPEM...), legacyEncKey...), password: "nope", wantErr: ErrWrongPassword},
		{name: "PEM key does not match", data: mismatched, format: FormatPEM, entries: 1, mismatch: true},
		{name: "PEM certificates only", data: certsPEM, format: FormatPEM, entries: 3, wantErr: ErrNoPrivateKey},
		{name: "PEM truncated", data: combined[:len(combined)-40], wantErr: ErrTruncated},
		{name: "DER certificate", data: f.client.Cert.Raw, wantErr: ErrNoPrivateKey},
		{name: "empty", data: nil, wantErr: ErrUnknownFormat},
		{name: "ZIP", data: []byte("PK\x03\x04rest of a zip"), wantErr: ErrUnknownFormat},
		{name: "text", data: []byte("hello, this is not a keystore\n"), wantErr: ErrUnknownFormat},
		{name: "JCEKS", data: []byte{0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2}, wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStore(tt.data, tt.password)
			var e Entry
			if err == nil {
				if st.Format != tt.format || len(st.Entries) != tt.entries {
					t.Errorf("got %s with %d entries, want %s with %d", st.Format, len(st.Entries), tt.format, tt.entries)
				}
				if (len(st.Protection.Legacy) > 0) != tt.legacy {
					t.Errorf("Protection.Legacy = %v, want legacy %v", st.Protection.Legacy, tt.legacy)
				}
				e, err = st.Pick(tt.alias)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("error shows the password: %v", err)
				}
				if errors.Is(err, ErrBER) && !strings.Contains(Remedy(err), "openssl pkcs12") {
					t.Errorf("BER error without the openssl command: %q", Remedy(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if e.KeyMatches() == tt.mismatch {
				t.Errorf("KeyMatches() = %v, want %v", e.KeyMatches(), !tt.mismatch)
			}
			if !tt.mismatch {
				want := f.client.Cert
				if tt.alias == "SECOND" {
					want = other.Cert
				}
				if !e.Leaf().Equal(want) {
					t.Errorf("picked %q, want %q", e.Leaf().Subject.CommonName, want.Subject.CommonName)
				}
				if !e.ClientAuth() {
					t.Error("client certificate does not allow clientAuth")
				}
			}
		})
	}
}

func TestParseStoreChainOrder(t *testing.T) {
	f := testFixture(t)
	// Certificates in a scrambled order, and an unrelated one.
	data := append(EncodeCertificatesPEM(f.h.Root.Cert, f.server.Cert, f.client.Cert, f.h.SubCA.Cert), mustPEMKey(t, f.client)...)
	st, err := ParseStore(data, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	want := []*x509.Certificate{f.client.Cert, f.h.SubCA.Cert, f.h.Root.Cert}
	if len(e.Chain) != len(want) {
		t.Fatalf("chain has %d certificates, want %d", len(e.Chain), len(want))
	}
	for i := range want {
		if !e.Chain[i].Equal(want[i]) {
			t.Errorf("chain[%d] = %q, want %q", i, e.Chain[i].Subject.CommonName, want[i].Subject.CommonName)
		}
	}
	if len(st.Entries) != 2 || st.Entries[1].Key != nil {
		t.Errorf("the unrelated server certificate should be a trusted entry; entries: %s", st.List())
	}
}

func TestLoadStoreTwoFiles(t *testing.T) {
	f := testFixture(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(cert, EncodeCertificatesPEM(f.client.Cert, f.h.SubCA.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, mustPEMKey(t, f.client), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := LoadStore(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.Pick("")
	if err != nil || !e.KeyMatches() || len(e.Chain) != 2 {
		t.Fatalf("Pick: %v, matches %v, chain %d", err, e.KeyMatches(), len(e.Chain))
	}
	if _, err := LoadStore(filepath.Join(dir, "missing"), "", ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLooksBER(t *testing.T) {
	f := testFixture(t)
	der, err := EncodePKCS12(f.client, nil, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if looksBER(der) {
		t.Error("DER PKCS#12 taken for BER")
	}
	if !looksBER(toBER(der)) {
		t.Error("indefinite length not seen")
	}
	// An inner constructed OCTET STRING, as BouncyCastle writes.
	inner := []byte{0x30, 0x08, 0x24, 0x06, 0x04, 0x01, 'a', 0x04, 0x01, 'b'}
	if !looksBER(inner) {
		t.Error("constructed OCTET STRING not seen")
	}
	if _, err := ParseStore(inner, "x"); !errors.Is(err, ErrBER) {
		t.Errorf("inner BER: %v, want ErrBER", err)
	}
}

func FuzzParseStore(f *testing.F) {
	// ECDSA keys: RSA key generation is very slow under the fuzzer's
	// coverage instrumentation.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kp := KeyPair{Cert: cert, Key: key}
	p12, _ := EncodePKCS12(kp, nil, "pw")
	legacy, _ := EncodePKCS12Legacy(kp, nil, "pw")
	jks, _ := EncodeJKS([]Entry{{Alias: "a", Key: key, Chain: []*x509.Certificate{cert}}, {Alias: "root", Chain: []*x509.Certificate{cert}}}, "pw")
	keyPEM, _ := EncodePrivateKeyPEM(key)
	for _, seed := range [][]byte{p12, legacy, jks, toBER(p12), append(EncodeCertificatesPEM(cert), keyPEM...), {}, {0x30, 0x80}, jksMagic} {
		f.Add(seed, "pw")
	}
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		st, err := ParseStore(data, password)
		if err == nil {
			st.Pick("")
			st.Certificates()
		} else if bytes.Contains([]byte(err.Error()), []byte("\x00")) {
			t.Errorf("error with a NUL byte: %q", err)
		}
	})
}
