package suites

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// liveEvidence is what the server's TLS handshake says of it being live
// MESH, whatever the URL was: a host name is only one of its names, and an
// IP address or another alias of a live host reaches the same server, with
// the same certificate.
type liveEvidence struct {
	table []pki.SpineCA // nil: pki's own table
	// roots are the trust anchors the chain is built to when the
	// handshake verified by hand (no VerifiedChains): a server sends its
	// leaf and intermediates, rarely the root. nil: the system's.
	roots *x509.CertPool

	mu  sync.Mutex
	why string
}

// see is a tls.Config.VerifyConnection hook: it records, never refuses.
func (l *liveEvidence) see(cs tls.ConnectionState) error {
	certs := slices.Clone(cs.PeerCertificates)
	chains := cs.VerifiedChains
	if len(chains) == 0 && len(cs.PeerCertificates) > 0 {
		// Verified by hand, or not at all: the chains to the trusted
		// roots are built here, whatever host name the URL had.
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, _ = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: l.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	}
	for _, chain := range chains {
		certs = append(certs, chain...)
	}
	l.record(l.judge(certs))
	return nil
}

// seeFailed reads the certificates of a handshake that failed
// verification: a live host reached by its IP address fails on the name,
// and its certificate is still evidence.
func (l *liveEvidence) seeFailed(err error) {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		l.record(l.judge(cve.UnverifiedCertificates))
	}
}

func (l *liveEvidence) record(why string) {
	if why != "" {
		l.mu.Lock()
		l.why = why
		l.mu.Unlock()
	}
}

func (l *liveEvidence) found() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.why
}

// judge names the first sign of live MESH: the certificate is issued for a
// live MESH host name, or a certificate presented or chained to is one of
// NHS's live CAs (by fingerprint).
// certs starts with the server's own certificate.
func (l *liveEvidence) judge(certs []*x509.Certificate) string {
	if len(certs) > 0 {
		leaf := certs[0]
		for _, name := range append([]string{leaf.Subject.CommonName}, leaf.DNSNames...) {
			if ep, ok := mesh.EndpointForURL("https://" + name); ok && ep.Environment == mesh.Live {
				return fmt.Sprintf("the server's certificate is issued to %s, a live MESH host", name)
			}
		}
	}
	for _, c := range certs {
		ca, _, ok := l.lookup(c)
		if ok && ca.ServesEnvironment("live") {
			return fmt.Sprintf("the server's certificate chains to %s, NHS's live CA (SHA-256 %s)", ca.CommonName, pki.Fingerprint(c))
		}
	}
	return ""
}

func (l *liveEvidence) lookup(c *x509.Certificate) (pki.SpineCA, bool, bool) {
	if l.table != nil {
		return pki.LookupSpineCAIn(l.table, c)
	}
	return pki.LookupSpineCA(c)
}
