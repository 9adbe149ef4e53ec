package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestHierarchyShape(t *testing.T) {
	f := testFixture(t)
	tests := []struct {
		name       string
		cert       *x509.Certificate
		issuer     *x509.Certificate
		cn         string
		maxPathLen int
	}{
		{"root", f.h.Root.Cert, f.h.Root.Cert, "meshdoctor test Root Authority G2", -1},
		{"sub-CA", f.h.SubCA.Cert, f.h.Root.Cert, "meshdoctor test Authentication G2", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cert
			if !c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA=%v BasicConstraintsValid=%v, want both true", c.IsCA, c.BasicConstraintsValid)
			}
			if c.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("KeyUsage %b lacks CertSign", c.KeyUsage)
			}
			if c.MaxPathLen != tt.maxPathLen {
				t.Errorf("MaxPathLen = %d, want %d", c.MaxPathLen, tt.maxPathLen)
			}
			if c.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.cn)
			}
			s := c.Subject
			if len(s.Country) != 1 || s.Country[0] != "GB" || len(s.Organization) != 1 || s.Organization[0] != "nhs" ||
				len(s.OrganizationalUnit) != 1 || s.OrganizationalUnit[0] != "CA" {
				t.Errorf("subject = %s, want C=GB, O=nhs, OU=CA", s)
			}
			if err := c.CheckSignatureFrom(tt.issuer); err != nil {
				t.Errorf("signature from %s: %v", tt.issuer.Subject.CommonName, err)
			}
			if c.NotAfter.Sub(c.NotBefore) < 9*365*24*time.Hour {
				t.Errorf("validity %v, want about 10 years", c.NotAfter.Sub(c.NotBefore))
			}
		})
	}
	if got := f.h.Chain(); len(got) != 2 || got[0] != f.h.SubCA.Cert || got[1] != f.h.Root.Cert {
		t.Errorf("Chain() is not [sub-CA, root]")
	}
}

func TestLeafVerification(t *testing.T) {
	f := testFixture(t)
	expired, err := f.h.IssueServer(LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"},
		NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewHierarchy(HierarchyOptions{Name: "unrelated"})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueServer(LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cert    *x509.Certificate
		dnsName string
		usage   x509.ExtKeyUsage
		check   func(error) bool // nil: must verify
	}{
		{"server by DNS", f.server.Cert, "localhost", x509.ExtKeyUsageServerAuth, nil},
		{"server by IP", f.server.Cert, "127.0.0.1", x509.ExtKeyUsageServerAuth, nil},
		{"server wrong host", f.server.Cert, "example.com", x509.ExtKeyUsageServerAuth, isErr[x509.HostnameError]},
		{"client as client", f.client.Cert, "", x509.ExtKeyUsageClientAuth, nil},
		{"client as server", f.client.Cert, "", x509.ExtKeyUsageServerAuth, isInvalid(x509.IncompatibleUsage)},
		{"server as client", f.server.Cert, "", x509.ExtKeyUsageClientAuth, isInvalid(x509.IncompatibleUsage)},
		{"expired", expired.Cert, "localhost", x509.ExtKeyUsageServerAuth, isInvalid(x509.Expired)},
		{"unknown authority", foreign.Cert, "localhost", x509.ExtKeyUsageServerAuth, isErr[x509.UnknownAuthorityError]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cert.Verify(x509.VerifyOptions{
				DNSName:   tt.dnsName,
				Roots:     f.h.Pool(),
				KeyUsages: []x509.ExtKeyUsage{tt.usage},
			})
			switch {
			case tt.check == nil && err != nil:
				t.Errorf("Verify: %v", err)
			case tt.check != nil && !tt.check(err):
				t.Errorf("Verify error = %v (%T), not the expected kind", err, err)
			}
		})
	}
}

func isErr[E error](err error) bool {
	var target E
	return errors.As(err, &target)
}

func isInvalid(reason x509.InvalidReason) func(error) bool {
	return func(err error) bool {
		var ie x509.CertificateInvalidError
		return errors.As(err, &ie) && ie.Reason == reason
	}
}

func TestLeafFields(t *testing.T) {
	f := testFixture(t)
	tests := []struct {
		name string
		cert *x509.Certificate
		cn   string
		eku  x509.ExtKeyUsage
	}{
		{"server", f.server.Cert, "localhost", x509.ExtKeyUsageServerAuth},
		{"client", f.client.Cert, "X26ABC1.X26.api.mesh-client.nhs.uk", x509.ExtKeyUsageClientAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cert
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if c.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.cn)
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != tt.eku {
				t.Errorf("ExtKeyUsage = %v, want [%v]", c.ExtKeyUsage, tt.eku)
			}
			if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; c.KeyUsage != want {
				t.Errorf("KeyUsage = %b, want %b", c.KeyUsage, want)
			}
			if c.SignatureAlgorithm != x509.SHA256WithRSA {
				t.Errorf("SignatureAlgorithm = %v, want SHA256-RSA", c.SignatureAlgorithm)
			}
			if d := c.NotAfter.Sub(c.NotBefore); d < 365*24*time.Hour || d > 366*24*time.Hour {
				t.Errorf("validity %v, want 1 year", d)
			}
		})
	}
}

func TestSHA1Leaf(t *testing.T) {
	f := testFixture(t)
	kp, err := f.h.IssueServer(LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"},
		SignatureAlgorithm: x509.SHA1WithRSA})
	if err != nil {
		t.Fatalf("IssueServer(SHA1WithRSA): %v", err)
	}
	c, err := x509.ParseCertificate(kp.Cert.Raw)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	if c.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Errorf("SignatureAlgorithm = %v, want SHA1-RSA", c.SignatureAlgorithm)
	}
	// Go refuses SHA-1 signatures when verifying, which is what the fault relies on.
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: f.h.Pool()}); err == nil {
		t.Error("Verify accepted a SHA-1 signed certificate")
	}
}

func TestIssueOptionsErrors(t *testing.T) {
	f := testFixture(t)
	now := time.Now()
	tests := []struct {
		name string
		run  func() error
	}{
		{"small key", func() error { _, err := NewHierarchy(HierarchyOptions{KeyBits: 1024}); return err }},
		{"no names", func() error { _, err := f.h.IssueServer(LeafOptions{}); return err }},
		{"NotAfter before NotBefore", func() error {
			_, err := f.h.IssueClient(LeafOptions{CommonName: "x", NotBefore: now, NotAfter: now.Add(-time.Hour)})
			return err
		}},
		{"MD5", func() error {
			_, err := f.h.IssueClient(LeafOptions{CommonName: "x", SignatureAlgorithm: x509.MD5WithRSA})
			return err
		}},
		{"empty hierarchy", func() error { _, err := (&Hierarchy{}).IssueServer(LeafOptions{CommonName: "x"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestKeyPairTLSCertificate(t *testing.T) {
	f := testFixture(t)
	tc := f.server.TLSCertificate(f.h.SubCA.Cert)
	if len(tc.Certificate) != 2 || tc.Leaf != f.server.Cert || tc.PrivateKey != f.server.Key {
		t.Fatalf("TLSCertificate = %d certs, Leaf set %v, key set %v", len(tc.Certificate), tc.Leaf != nil, tc.PrivateKey != nil)
	}
	certPEM := EncodeCertificatesPEM(f.server.Cert, f.h.SubCA.Cert)
	keyPEM, err := EncodePrivateKeyPEM(f.server.Key)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	for i := range want.Certificate {
		if string(want.Certificate[i]) != string(tc.Certificate[i]) {
			t.Errorf("certificate %d differs from tls.X509KeyPair's", i)
		}
	}
	if !want.Leaf.Equal(tc.Leaf) {
		t.Error("Leaf differs from tls.X509KeyPair's")
	}
}

func TestClientCommonName(t *testing.T) {
	tests := []struct{ id, ods, want string }{
		{"X26ABC1", "X26", "X26ABC1.X26.api.mesh-client.nhs.uk"},
		{"SERVER001", "X26", "SERVER001.X26.api.mesh-client.nhs.uk"},
	}
	for _, tt := range tests {
		if got := ClientCommonName(tt.id, tt.ods); got != tt.want {
			t.Errorf("ClientCommonName(%q, %q) = %q, want %q", tt.id, tt.ods, got, tt.want)
		}
	}
}
