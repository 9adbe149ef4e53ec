package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

var tlsServer = Check{
	ID:    "tls.server",
	Title: "MESH's server certificate is trusted and TLS is 1.2 or later",
	Needs: []string{"tcp.connect"},
	Run:   judgeTLSServer,
}

func judgeTLSServer(ctx context.Context, f *Facts) Verdict {
	t := f.TLS(ctx)
	if t.Plain {
		return Skipf("plain HTTP target: no TLS to judge (real MESH is HTTPS only)")
	}
	ep, _ := f.Endpoint()
	bundle := "the system's trusted roots"
	if f.Target.CABundle != "" {
		bundle = f.Target.CABundle
	}
	v := func(v Verdict) Verdict {
		if t.Version != 0 {
			v = v.With("protocol", tls.VersionName(t.Version)).With("cipher", tls.CipherSuiteName(t.Cipher))
		}
		v = v.With("presented chain", describeChain(t.Presented))
		if len(t.Chains) > 0 {
			v = v.With("verified chain", describeChain(t.Chains[0]))
		}
		if ca := spineCAsIn(t.Presented, t.Chains); ca != "" {
			v = v.With("NHS CA", ca)
		}
		return v.With("trusted CAs", bundle)
	}
	if t.BundleErr != nil {
		return Errorf("could not read the CA bundle, so the server cannot be verified: %v", t.BundleErr).
			With("CA bundle", bundle).
			Fix("--ca-bundle must be a PEM file of CA certificates (-----BEGIN CERTIFICATE-----): the environment's Spine root and SubCA, from the environment's page.")
	}
	if t.Err != nil && len(t.Presented) == 0 {
		return v(tlsHandshakeFailure(f, t, ep))
	}
	if in := intercepted(f, t); in != nil {
		return v(interceptionVerdict(f, in))
	}
	if t.VerifyErr != nil {
		return v(verifyFailure(f, t))
	}
	if t.Err != nil && !clientCertAlert(remoteAlert(t.Err)) && !closedAfterClientCert(t) {
		return v(tlsHandshakeFailure(f, t, ep))
	}
	leaf := t.Presented[0]
	summary := fmt.Sprintf("%s presents %q, issued by %q, trusted", ep.Host, certName(leaf), leaf.Issuer.CommonName)
	if t.Version != 0 {
		summary += ", " + tls.VersionName(t.Version)
	}
	verdict := v(Passf("%s", summary)).With("valid until", leaf.NotAfter.UTC().Format(time.DateOnly))
	if t.CNOnly {
		verdict = verdict.With("host name", "matched by the certificate's CN (it has no SANs, as HSCN certificates)")
	}
	if missingIntermediate(t.Presented) {
		return v(Warnf("%s does not send its intermediate (sub-CA) certificate; it is trusted only because %s holds %q", ep.Host, bundle, leaf.Issuer.CommonName)).
			Fix("Keep the environment's SubCA certificate in your CA bundle (NHS asks for both the root and the SubCA): clients that trust only the root will fail against this server.")
	}
	if catalogued, known := mesh.EndpointForURL(ep.Host); known && catalogued.Status != mesh.Retired {
		if _, _, nhs := spineCAOfPresented(t.Presented); !nhs {
			// Trusted through the bundle, yet not from a Spine CA that
			// meshdoctor knows: never passed without saying so.
			return v(Warnf("%s is trusted, but its certificate comes from %q, which is not an NHS Spine CA meshdoctor knows", ep.Host, leaf.Issuer.String())).
				Fix("MESH's certificates come from NHS's Spine CAs. Unless NHS has announced a new CA, something between here and MESH is presenting its own certificate (SSL inspection): ask your network team to exempt %s from inspection.", strings.Join(exemptHosts(f), " and "))
		}
	}
	if env := f.Target.Environment; env != "" && len(t.Chains) > 0 {
		if ca, _, ok := spineCAOf(t.Chains[0]); ok && !ca.ServesEnvironment(string(env)) {
			verdict.Status = Warn
			verdict.Summary = fmt.Sprintf("%s is trusted, but its certificate comes from %s (%s), not from %s's CAs", ep.Host, ca.CommonName, strings.Join(ca.Environments, ", "), env.Title())
			return verdict.Fix("Check --env and --url agree: certificates, keystores and CA bundles differ per environment.")
		}
	}
	return verdict
}

// tlsHandshakeFailure names a handshake that failed before any certificate
// was seen.
func tlsHandshakeFailure(f *Facts, t *TLSFacts, ep Endpoint) Verdict {
	err, addr := t.Err, ep.HostPort()
	msg := err.Error()
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
		return Failf("something that is not MESH answered %s in plain HTTP (it does not speak TLS): a captive portal's or a firewall's block page, or a plain HTTP server", addr).With("error", msg).
			Fix("A device between here and MESH intercepts the connection and answers it itself. Ask your network team to allow HTTPS (TCP %s) to %s untouched; if you gave the URL, check it is https on MESH's port.", ep.Port, ep.Host)
	}
	alert := remoteAlert(err)
	v := Failf("TLS handshake with %s failed: %s", addr, msg).With("error", msg)
	switch {
	case strings.Contains(msg, "unsupported protocol version") || alert == "protocol version not supported":
		return Failf("%s speaks only TLS 1.1 or older; MESH clients need TLS 1.2 or later", addr).With("error", msg).
			Fix("This is not MESH as NHS runs it (TLS 1.2+). Check the URL; if a proxy or load balancer in between terminates TLS, it must offer TLS 1.2 or 1.3.")
	case strings.Contains(msg, "does not look like a TLS handshake"):
		return Failf("%s accepts connections but does not speak TLS (a plain HTTP server?)", addr).With("error", msg).
			Fix("Check the URL's port and scheme: MESH is https on port 443.")
	case alert != "":
		return v.With("alert", alertName(alert)).
			Fix("The server ended the handshake with the alert %q before showing its certificate. Check the URL; if it persists, send this report to the service desk.", alertName(alert))
	}
	sni := ep.Host
	if ep.Addr.IsValid() {
		sni = "(none: the URL names an IP address)"
	}
	via := ""
	if route, _ := f.Route(); route.Proxy != nil {
		via = " (through the proxy " + route.Proxy.String() + ")"
	}
	switch classifyNet(err) {
	case failTimeout:
		stage, got := "waiting for the server's first flight (ServerHello, certificate)", "no answer (ServerHello and certificate) came back"
		if len(t.Presented) > 0 {
			stage, got = "after the server's certificate, waiting for it to finish the handshake", "the server's certificate came, but the handshake never finished"
			if t.Requested && t.ClientCert != nil {
				stage = "after we sent our client certificate, waiting for the server to finish the handshake"
			}
		}
		return Failf("the TLS handshake with %s stalled: our ClientHello went out%s, and %s within %s", addr, via, got, t.Took.Round(time.Millisecond)).
			With("error", msg).With("stalled at", stage).With("server name sent (SNI)", sni).
			Fix("The TCP connection opened, so a device on the path is holding or dropping the TLS handshake: an inspection device or IPS deciding on it, or a path that drops large packets (the certificate flights are the first large packets: an MTU / path-MTU-discovery black hole on a VPN or tunnel). Ask your network team to check their firewall or proxy logs for TLS to %s (server name %s), and to allow ICMP 'fragmentation needed' / check the MTU on the path. (Or it is not a TLS port: MESH is https on 443.)", addr, ep.Host)
	case failReset, failClosed:
		what := map[netFailure]string{failReset: "reset", failClosed: "closed"}[classifyNet(err)]
		if ep.Addr.IsValid() {
			return Failf("the connection to %s was %s right after our ClientHello%s: a firewall or proxy rejecting TLS to it", addr, what, via).
				With("error", msg).With("failed at", "after our ClientHello, before any server answer").
				Fix("Something between here and MESH drops TLS connections: a firewall or a TLS-inspecting proxy. Ask your network team to let TLS to %s through untouched (MESH needs mutual TLS end to end); use MESH's host name, not an address.", addr)
		}
		return Failf("the connection to %s was %s right after our ClientHello, which named the server %s (SNI)%s: a firewall filtering on the server name", addr, what, sni, via).
			With("error", msg).With("server name the firewall saw", sni).With("failed at", "after our ClientHello, before any server answer").
			Fix("A firewall or proxy between here and MESH blocks TLS by the server name in the ClientHello (URL/SNI filtering, application control, or an inspection policy). Ask your network team to allow TLS to %s with server name %s, and to exempt it from SSL inspection (MESH needs mutual TLS end to end).", addr, ep.Host)
	}
	return v.Fix("Check the URL and the network path; run with -v for the evidence.")
}

// verifyFailure explains why the server's chain did not verify.
func verifyFailure(f *Facts, t *TLSFacts) Verdict {
	leaf := t.Presented[0]
	err := t.VerifyErr
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var insecure x509.InsecureAlgorithmError
	bundle := f.Target.CABundle
	switch {
	case errors.As(err, &insecure) || weakSignature(t.Presented):
		c := weakCert(t.Presented)
		return Failf("the server's certificate %q is signed with %s, which MESH clients refuse", certName(c), c.SignatureAlgorithm).
			With("error", err).
			Fix("The server is not using a SHA-2 certificate: this is not a current MESH endpoint. Check the URL; if it is right, tell the service desk.")
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		now := f.Now()
		c := invalid.Cert
		if now.Before(c.NotBefore) {
			return Failf("the server's certificate %q is not valid until %s (this machine's clock says %s)", certName(c), c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)).
				Fix("Check this machine's date and time (use NTP): it looks wrong.")
		}
		return Failf("the server's certificate %q expired on %s", certName(c), c.NotAfter.UTC().Format(time.DateOnly)).
			Fix("If this machine's clock is right (%s), the server's certificate has expired: check the URL points at current MESH, and tell the service desk.", now.UTC().Format(time.DateOnly))
	case errors.As(err, &host):
		return Failf("the server's certificate is for %s, not %s", strings.Join(certHosts(leaf), ", "), host.Host).
			Fix("Check the URL's host: use the MESH host name itself (not an IP address or an alias), e.g. msg.intspineservices.nhs.uk.")
	case errors.As(err, &unknown):
		return unknownCAVerdict(f, t, bundle)
	}
	return Failf("the server's certificate does not verify: %v", err).
		Fix("Check --ca-bundle holds the environment's Spine root and SubCA certificates.")
}

func unknownCAVerdict(f *Facts, t *TLSFacts, bundle string) Verdict {
	leaf := t.Presented[0]
	serverCA, byName, known := spineCAOfPresented(t.Presented)
	lacks := "this system's trusted CAs do not include"
	if bundle != "" {
		lacks = "the CA bundle " + bundle + " does not hold"
	}
	if missingIntermediate(t.Presented) {
		return Failf("the server sent no intermediate certificate, and %s its issuer %q", lacks, leaf.Issuer.CommonName).
			Fix("Add the environment's SubCA (%s) and root certificates to your CA bundle (--ca-bundle): NHS asks MESH clients to install both.", leaf.Issuer.CommonName)
	}
	v := Failf("the server's certificate is issued by %q, which %s", leaf.Issuer.CommonName, strings.Replace(lacks, " its issuer", "", 1))
	if known {
		how := "by fingerprint"
		if byName {
			how = "by name"
		}
		v = v.With("server CA", fmt.Sprintf("%s (%s; recognised %s)", serverCA.CommonName, strings.Join(serverCA.Environments, ", "), how))
		if held := bundleSpineCAs(bundle); held != "" {
			v = v.With("your bundle holds", held)
		}
		return v.Fix("The server belongs to NHS %s; pass --ca-bundle with that environment's Spine root and SubCA certificates (%s and its root), from the environment's page.",
			strings.ToUpper(strings.Join(serverCA.Environments, "/")), serverCA.CommonName)
	}
	if bundle == "" {
		return v.Fix("Pass --ca-bundle with the environment's Spine root and SubCA certificates: MESH's certificates are issued by NHS's own CAs, which operating systems do not trust.")
	}
	if held := bundleSpineCAs(bundle); held != "" {
		v = v.With("your bundle holds", held)
	}
	return v.Fix("Your CA bundle does not hold the CA that issued this server's certificate: check --ca-bundle is the one for this environment, and the URL is the MESH you mean.")
}

// missingIntermediate reports a chain of a leaf alone that a CA issued.
func missingIntermediate(presented []*x509.Certificate) bool {
	if len(presented) != 1 {
		return false
	}
	leaf := presented[0]
	return !bytes.Equal(leaf.RawIssuer, leaf.RawSubject)
}

func weakSignature(chain []*x509.Certificate) bool { return weakCert(chain) != nil }

func weakCert(chain []*x509.Certificate) *x509.Certificate {
	for _, c := range chain {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			continue // a root's self-signature is not checked
		}
		switch c.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
			return c
		}
	}
	return nil
}

func certHosts(c *x509.Certificate) []string {
	hosts := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	if len(hosts) == 0 && c.Subject.CommonName != "" {
		hosts = []string{c.Subject.CommonName}
	}
	return hosts
}

func describeChain(chain []*x509.Certificate) string {
	var parts []string
	for _, c := range chain {
		parts = append(parts, fmt.Sprintf("%q (%s, until %s)", certName(c), c.SignatureAlgorithm, c.NotAfter.UTC().Format(time.DateOnly)))
	}
	return strings.Join(parts, " ← ")
}

func spineCAOf(chain []*x509.Certificate) (pki.SpineCA, bool, bool) {
	for _, c := range chain[1:] {
		if ca, byName, ok := pki.LookupSpineCA(c); ok {
			return ca, byName, true
		}
	}
	return pki.SpineCA{}, false, false
}

// spineCAOfPresented recognises the Spine CA behind a presented chain: a CA
// certificate in it, or the leaf's issuer by name.
func spineCAOfPresented(presented []*x509.Certificate) (pki.SpineCA, bool, bool) {
	if ca, byName, ok := spineCAOf(presented); ok {
		return ca, byName, true
	}
	for _, ca := range pki.SpineCAs() {
		if presented[0].Issuer.CommonName == ca.CommonName {
			return ca, true, true
		}
	}
	return pki.SpineCA{}, false, false
}

func spineCAsIn(presented []*x509.Certificate, chains [][]*x509.Certificate) string {
	if len(chains) > 0 {
		if ca, _, ok := spineCAOf(chains[0]); ok {
			return fmt.Sprintf("%s (%s)", ca.CommonName, strings.Join(ca.Environments, ", "))
		}
	}
	if len(presented) > 0 {
		if ca, _, ok := spineCAOfPresented(presented); ok {
			return fmt.Sprintf("%s (%s)", ca.CommonName, strings.Join(ca.Environments, ", "))
		}
	}
	return ""
}

// bundleSpineCAs names the Spine CAs a CA bundle holds, so a report can say
// "your bundle is LIVE's, the server is INT's".
func bundleSpineCAs(path string) string {
	if path == "" {
		return ""
	}
	data, err := pki.ReadFile(path, "CA bundle")
	if err != nil {
		return ""
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return ""
	}
	var names []string
	for _, c := range certs {
		if ca, _, ok := pki.LookupSpineCA(c); ok {
			names = append(names, fmt.Sprintf("%s (%s)", ca.CommonName, strings.Join(ca.Environments, ", ")))
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("%d certificate(s), none of them an NHS Spine CA", len(certs))
	}
	return strings.Join(names, "; ")
}

// closedAfterClientCert reports a TLS 1.2 handshake that the server broke off
// after it had shown a trusted certificate and asked for ours: its verdict
// on our certificate (tls.client-auth's to judge), not a fault of its own.
func closedAfterClientCert(t *TLSFacts) bool {
	k := classifyNet(t.Err)
	return t.Requested && len(t.Presented) > 0 && t.VerifyErr == nil && (k == failClosed || k == failReset)
}
