package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
)

func TestProtectionNamesAlgorithms(t *testing.T) {
	f := testFixture(t)
	modern, err := EncodePKCS12(f.client, nil, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := EncodePKCS12Legacy(f.client, nil, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		data       []byte
		mac        string
		certs, key string
		legacy     []string
	}{
		{"modern", modern, "HMAC-SHA-256", "PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC)", "PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC)", nil},
		{"legacy", legacy, "HMAC-SHA-1", "pbeWithSHAAnd40BitRC2-CBC", "pbeWithSHAAnd3-KeyTripleDES-CBC",
			[]string{"SHA-1 MAC", "40-bit RC2 certificate encryption", "3DES key encryption"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := readP12Structure(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			p := s.Protection
			if !strings.HasPrefix(p.MAC, tt.mac) || p.CertEncryption != tt.certs || p.KeyEncryption != tt.key {
				t.Errorf("got %+v", p)
			}
			for _, l := range tt.legacy {
				if !slices.Contains(p.Legacy, l) {
					t.Errorf("Legacy %v lacks %q", p.Legacy, l)
				}
			}
			if len(tt.legacy) == 0 && len(p.Legacy) > 0 {
				t.Errorf("modern file called legacy: %v", p.Legacy)
			}
		})
	}
}

func TestKeyAndSignatureRules(t *testing.T) {
	f := testFixture(t)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tt := range []struct {
		name string
		pub  any
		ok   bool
	}{
		{"RSA 2048", f.client.Key.Public(), true},
		{"RSA 1024", rsa1024(t).Public(), false},
		{"ECDSA P-256", p256.Public(), true},
		{"ECDSA P-224", p224.Public(), false},
	} {
		if ok, why := KeyStrongEnough(tt.pub); ok != tt.ok || ok == (why != "") {
			t.Errorf("%s: ok %v (%q), want %v", tt.name, ok, why, tt.ok)
		}
	}
	for alg, weak := range map[x509.SignatureAlgorithm]bool{
		x509.SHA1WithRSA: true, x509.MD5WithRSA: true, x509.ECDSAWithSHA1: true,
		x509.SHA256WithRSA: false, x509.ECDSAWithSHA384: false,
	} {
		if WeakSignature(alg) != weak || (!weak && !SHA2Signature(alg)) {
			t.Errorf("%s: weak %v", alg, WeakSignature(alg))
		}
	}
	info := Describe(f.client.Cert)
	if info.Key != "RSA 2048" || !slices.Equal(info.ExtKeyUsage, []string{"clientAuth"}) || info.SelfSigned || info.SHA256 != Fingerprint(f.client.Cert) {
		t.Errorf("Describe: %+v", info)
	}
	if !Describe(f.h.Root.Cert).SelfSigned || !IsSelfSigned(f.h.Root.Cert) {
		t.Error("the root is not seen as self-signed")
	}
}
