package pki

import (
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// VerifyServer verifies a server's chain as NHS's MESH clients do: against
// roots (the system's when nil), for server authentication, for host — by
// the subject's CN when the certificate has no SANs at all, as HSCN
// endpoints' certificates and NHS mesh-sandbox's own do (Go itself never
// falls back to the CN). cnOnly says the host matched that way.
func VerifyServer(presented []*x509.Certificate, roots *x509.CertPool, host string, now time.Time) (chains [][]*x509.Certificate, cnOnly bool, err error) {
	if len(presented) == 0 {
		return nil, false, errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range presented[1:] {
		inter.AddCert(c)
	}
	leaf := presented[0]
	chains, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return nil, false, err
	}
	if err := leaf.VerifyHostname(host); err != nil {
		if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 && len(leaf.URIs) == 0 && strings.EqualFold(leaf.Subject.CommonName, host) {
			return chains, true, nil
		}
		return chains, false, err
	}
	return chains, false, nil
}
