package reports

import (
	"crypto/x509"
	"os"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// CertificateInfo is what a support bundle says about one certificate: who
// it names and its fingerprint, never a key.
type CertificateInfo struct {
	// Role is where it came from: "client keystore", "client certificate"
	// or "CA bundle"; File is that file.
	Role string `json:"role"`
	File string `json:"file"`
	// Subject, Issuer and NotAfter are empty when the file could not be
	// read; Error then says why.
	Subject     string `json:"subject,omitempty"`
	Issuer      string `json:"issuer,omitempty"`
	NotAfter    string `json:"not_after,omitempty"`
	Fingerprint string `json:"sha256_fingerprint,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Certificates are the target's client and CA certificates, as read when
// the report's target was made.
func (t Target) Certificates() []CertificateInfo { return t.certs }

// readCertificates describes the target's certificates. A file that cannot
// be read is named with the reason (the checks judge it; the bundle only
// records what there is).
func readCertificates(t mesh.Target) []CertificateInfo {
	var out []CertificateInfo
	add := func(role, file string, certs []*x509.Certificate, err error) {
		if err != nil {
			out = append(out, CertificateInfo{Role: role, File: file, Error: err.Error()})
			return
		}
		for _, c := range certs {
			out = append(out, CertificateInfo{
				Role: role, File: file,
				Subject: c.Subject.String(), Issuer: c.Issuer.String(),
				NotAfter:    c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
				Fingerprint: pki.Fingerprint(c),
			})
		}
	}
	if t.Keystore != "" {
		data, err := os.ReadFile(t.Keystore)
		var certs []*x509.Certificate
		if err == nil {
			var ks pki.Keystore
			if ks, err = pki.DecodePKCS12(data, t.KeystorePassword); err == nil {
				certs = append([]*x509.Certificate{ks.Leaf}, ks.Chain...)
			}
		}
		add("client keystore", t.Keystore, certs, err)
	}
	for _, f := range []struct{ role, file string }{{"client certificate", t.CertFile}, {"CA bundle", t.CABundle}} {
		if f.file == "" {
			continue
		}
		data, err := os.ReadFile(f.file)
		var certs []*x509.Certificate
		if err == nil {
			certs, err = pki.ParseCertificatesPEM(data)
		}
		add(f.role, f.file, certs, err)
	}
	return out
}
