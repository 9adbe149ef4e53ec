package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

func TestCertificatesPEMRoundTrip(t *testing.T) {
	f := testFixture(t)
	tests := []struct {
		name  string
		certs []*x509.Certificate
	}{
		{"one", []*x509.Certificate{f.server.Cert}},
		{"chain", []*x509.Certificate{f.client.Cert, f.h.SubCA.Cert, f.h.Root.Cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := EncodeCertificatesPEM(tt.certs...)
			// Interleave a key block, which the parser must skip.
			keyPEM, err := EncodePrivateKeyPEM(f.server.Key)
			if err != nil {
				t.Fatal(err)
			}
			data = append(keyPEM, data...)
			got, err := ParseCertificatesPEM(data)
			if err != nil {
				t.Fatalf("ParseCertificatesPEM: %v", err)
			}
			if len(got) != len(tt.certs) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.certs))
			}
			for i := range got {
				if !got[i].Equal(tt.certs[i]) {
					t.Errorf("certificate %d differs", i)
				}
			}
		})
	}
}

func TestParseCertificatesPEMErrors(t *testing.T) {
	f := testFixture(t)
	keyPEM, _ := EncodePrivateKeyPEM(f.client.Key)
	tests := []struct {
		name   string
		data   []byte
		noCert bool
	}{
		{"empty", nil, true},
		{"garbage", []byte("not a certificate"), true},
		{"only a key", keyPEM, true},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCertificatesPEM(tt.data)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrNoCertificate); got != tt.noCert {
				t.Errorf("errors.Is(%v, ErrNoCertificate) = %v, want %v", err, got, tt.noCert)
			}
		})
	}
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	f := testFixture(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := f.client.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("client key is %T, want *rsa.PrivateKey", f.client.Key)
	}
	pkcs8 := func(k crypto.Signer) []byte {
		b, err := EncodePrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1DER := x509.MarshalPKCS1PrivateKey(rsaKey)

	tests := []struct {
		name string
		data []byte
		want crypto.Signer
	}{
		{"PKCS#8 RSA", pkcs8(rsaKey), rsaKey},
		{"PKCS#8 ECDSA", pkcs8(ecKey), ecKey},
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER}), rsaKey},
		{"SEC1 EC after EC PARAMETERS", append(
			pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...), ecKey},
		{"PKCS#1 labelled PRIVATE KEY", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs1DER}), rsaKey},
		{"after a certificate", append(EncodeCertificatesPEM(f.client.Cert), pkcs8(rsaKey)...), rsaKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivateKeyPEM(tt.data)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if !got.(interface{ Equal(crypto.PrivateKey) bool }).Equal(tt.want) {
				t.Error("parsed key differs")
			}
		})
	}
}

func TestParsePrivateKeyPEMErrors(t *testing.T) {
	f := testFixture(t)
	tests := []struct {
		name string
		data []byte
		is   error // nil: any error
	}{
		{"empty", nil, ErrNoPrivateKey},
		{"garbage", []byte("-----BEGIN NONSENSE"), ErrNoPrivateKey},
		{"only a certificate", EncodeCertificatesPEM(f.client.Cert), ErrNoPrivateKey},
		{"PKCS#8 encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}}), ErrEncryptedKey},
		{"legacy encrypted", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
			Bytes:   []byte{1, 2, 3}}), ErrEncryptedKey},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKeyPEM(tt.data)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	if _, err := EncodePrivateKeyPEM(nil); !errors.Is(err, ErrNoPrivateKey) {
		t.Errorf("EncodePrivateKeyPEM(nil) error = %v, want ErrNoPrivateKey", err)
	}
}
