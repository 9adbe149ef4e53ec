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

	mu  sync.Mutex
	why string
}

// see is a tls.Config.VerifyConnection hook: it records, never refuses.
func (l *liveEvidence) see(cs tls.ConnectionState) error {
	certs := slices.Clone(cs.PeerCertificates)
	for _, chain := range cs.VerifiedChains {
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
