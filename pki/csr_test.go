package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
)

var (
	smallKeyOnce sync.Once
	smallKey     *rsa.PrivateKey
)

// rsa1024 is a deliberately weak key for fault fixtures (NewHierarchy
// refuses to make one).
func rsa1024(t testing.TB) *rsa.PrivateKey {
	smallKeyOnce.Do(func() {
		var err error
		smallKey, err = rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a weak key is the point
		if err != nil {
			panic(err)
		}
	})
	return smallKey
}

func makeCSR(t *testing.T, tmpl *x509.CertificateRequest, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("create CSR: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCheckCSR(t *testing.T) {
	f := testFixture(t)
	good := "X26ABC1.X26.api.mesh-client.nhs.uk"
	newPEM, key, err := NewCSR(good)
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 2048 {
		t.Errorf("NewCSR key is %d bits", key.N.BitLen())
	}
	tests := []struct {
		name string
		csr  []byte
		rule string
		want Severity
	}{
		{"NewCSR passes everything", newPEM, "", SeverityPass},
		{"email in the subject", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: good,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "ops@example.nhs.uk"}}}}, f.client.Key), "email", SeverityFail},
		{"email SAN", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: good}, EmailAddresses: []string{"ops@example.nhs.uk"}}, f.client.Key), "email", SeverityFail},
		{"O and OU", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: good, Organization: []string{"Example Trust"}, OrganizationalUnit: []string{"IT"}}}, f.client.Key), "subject", SeverityWarn},
		{"SHA-1", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: good}, SignatureAlgorithm: x509.SHA1WithRSA}, f.client.Key), "signature", SeverityFail},
		{"CN not an FQDN", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meshclient"}}, f.client.Key), "cn", SeverityFail},
		{"CN an FQDN off the naming convention", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "mesh.example.nhs.uk"}}, f.client.Key), "cn", SeverityWarn},
		{"no CN", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"x"}}}, f.client.Key), "cn", SeverityFail},
		{"RSA 1024", makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: good}}, rsa1024(t)), "key", SeverityFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := ParseCSR(tt.csr)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range CheckCSR(csr) {
				if tt.rule == "" {
					if fd.Severity != SeverityPass {
						t.Errorf("%s: %s %s", fd.Rule, fd.Severity, fd.Summary)
					}
					continue
				}
				if fd.Rule == tt.rule {
					if fd.Severity != tt.want {
						t.Errorf("%s: %s (%s), want %s", fd.Rule, fd.Severity, fd.Summary, tt.want)
					}
					if tt.want != SeverityPass && fd.Fix == "" {
						t.Errorf("%s: no fix", fd.Rule)
					}
					return
				}
			}
			if tt.rule != "" {
				t.Errorf("no finding for rule %s", tt.rule)
			}
		})
	}
	if _, _, err := NewCSR("localhost"); err == nil {
		t.Error("NewCSR accepted a name that is not an FQDN")
	}
	// Not a CSR: one line that says so, never the ASN.1 parser's internals.
	for in, want := range map[string]string{
		"junk": "not a CSR (PEM CERTIFICATE REQUEST or DER)",
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n": "not a CSR (PEM CERTIFICATE REQUEST or DER): it holds CERTIFICATE, no CERTIFICATE REQUEST",
		"\n": "not a CSR (PEM CERTIFICATE REQUEST or DER): the file is empty",
	} {
		if _, err := ParseCSR([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("ParseCSR(%q) = %v, want %q", in, err, want)
		}
	}
	if _, err := ParseCSR([]byte("junk")); err == nil || !strings.Contains(err.Error(), "not a CSR") {
		t.Errorf("ParseCSR(junk): %v", err)
	}
}

func TestIsFQDNAndNaming(t *testing.T) {
	for name, want := range map[string][2]bool{
		"X26ABC1.X26.api.mesh-client.nhs.uk":  {true, true},
		"x26abc1.x26.api.mesh-client.nhs.uk.": {true, true},
		"mesh.example.nhs.uk":                 {true, false},
		"a.b.c.api.mesh-client.nhs.uk":        {true, false},
		"localhost":                           {false, false},
		"10.0.0.1":                            {false, false},
		"*.example.com":                       {false, false},
		"-bad.example.com":                    {false, false},
		"":                                    {false, false},
	} {
		if got := IsFQDN(name); got != want[0] {
			t.Errorf("IsFQDN(%q) = %v", name, got)
		}
		if got := FollowsMeshNaming(name); got != want[1] {
			t.Errorf("FollowsMeshNaming(%q) = %v", name, got)
		}
	}
}
