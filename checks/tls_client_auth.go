package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

var tlsClientAuth = Check{
	ID:    "tls.client-auth",
	Title: "MESH accepts our client certificate (mutual TLS)",
	Needs: []string{"tls.server"},
	After: []string{"keystore.load", "keystore.sha2", "cert.client"},
	Run:   judgeClientAuth,
}

func judgeClientAuth(ctx context.Context, f *Facts) Verdict {
	t := f.TLS(ctx)
	x := f.Exchange(ctx)
	ours := "none"
	if t.ClientCert != nil {
		ours = fmt.Sprintf("%q issued by %q", certName(t.ClientCert), t.ClientCert.Issuer.CommonName)
	}
	v := func(v Verdict) Verdict {
		v = v.With("our certificate", ours)
		if t.Requested {
			accepts := strings.Join(t.AcceptableCAs, "; ")
			if accepts == "" {
				accepts = "any (the server named no CAs)"
			}
			v = v.With("server accepts", accepts)
		} else {
			v = v.With("server asked for a certificate", "no")
		}
		if t.IdentityErr != nil {
			v = v.With("identity error", t.IdentityErr)
		}
		return v
	}
	alert := remoteAlert(t.Err)
	if alert == "" {
		alert = remoteAlert(x.Err)
	}
	switch {
	case alert != "" && clientCertAlert(alert):
		return v(refusedCertificate(f, t, "the TLS alert "+alertName(alert)+" ("+alert+")"))
	case closedAfterClientCert(t):
		return v(refusedCertificate(f, t, "the connection being closed as soon as it had our certificate"))
	case x.Status == 400 && mentionsCertificate(x.Body):
		return v(refusedCertificate(f, t, "HTTP 400 \""+gist(x.Body)+"\" (how MESH over HSCN refuses a certificate)"))
	case x.Err != nil && (classifyNet(x.Err) == failReset || classifyNet(x.Err) == failClosed) && t.ClientCert != nil && t.Requested:
		return v(refusedCertificate(f, t, "the connection being closed after the handshake"))
	case x.NotSent != "":
		return Skipf("skipped: %s", x.NotSent)
	case x.Err != nil && t.Version < tls.VersionTLS13 && t.Requested && t.ClientCert != nil:
		// Under TLS 1.2 the server judges our certificate inside the
		// handshake, which completed.
		return v(Passf("the server asked for a client certificate and accepted %s (TLS 1.2 handshake completed)", ours))
	case x.Err != nil:
		return v(Skipf("the server did not answer after the TLS 1.3 handshake, so its verdict on our certificate is unknown (see mesh.handshake)"))
	}
	if !t.Requested {
		if t.ClientCert != nil {
			return v(Warnf("the server did not ask for a client certificate; real MESH always does")).
				Fix("If this is MESH behind a TLS-terminating proxy, the proxy must pass mutual TLS through untouched; if it is a sandbox without client authentication, nothing to do.")
		}
		return v(Warnf("the server did not ask for a client certificate, and none is configured; real MESH requires one")).
			Fix("Configure the client identity for the real environment: --keystore FILE (or --cert and --key).")
	}
	if t.ClientCert == nil {
		return v(noClientCertificate(f, t, "the server asks for a client certificate"))
	}
	summary := fmt.Sprintf("the server asked for a client certificate and accepted %s", ours)
	if t.Requested && len(t.acceptableRaw) > 0 && !chainsToAcceptable(t) {
		return v(Passf("%s (although its issuer is not among the CAs the server named)", summary))
	}
	return v(Passf("%s", summary))
}

// refusedCertificate names the first cause of a refused client certificate:
// an identity finding when there is one, else what the server said.
func refusedCertificate(f *Facts, t *TLSFacts, how string) Verdict {
	if t.ClientCert == nil {
		return noClientCertificate(f, t, "MESH refused the connection with "+how)
	}
	for _, id := range []string{"cert.client", "keystore.sha2", "keystore.load"} {
		// A warning is a cause only against an NHS environment: against a
		// sandbox, cert.client warns of a private CA that the sandbox trusts.
		if r, ok := f.Result(id); ok && (r.Status == Fail || r.Status == Error || r.Status == Warn && targetEnvironment(f.Target) != "") {
			return Failf("MESH refused our client certificate with %s; first cause: %s (%s)", how, r.Summary, id).
				With("first cause", id).
				Fix("%s", firstNonEmpty(r.Remediation, "Fix what "+id+" reports, then run meshdoctor again."))
		}
	}
	v := Failf("MESH refused our client certificate %q with %s", certName(t.ClientCert), how)
	if t.Requested && len(t.acceptableRaw) > 0 && !chainsToAcceptable(t) {
		return v.Fix("Your certificate is issued by %q, but the server accepts certificates from: %s. Use the certificate (keystore) NHS issued for this environment.",
			t.ClientCert.Issuer.CommonName, strings.Join(t.AcceptableCAs, "; "))
	}
	return v.Fix("Use the endpoint certificate NHS issued for this environment and this FQDN, with its key; make sure it has not expired or been revoked. A certificate for another environment (DEP vs INT) is refused the same way. If it is right, ask the service desk whether it is registered for your mailbox.")
}

// noClientCertificate is the verdict when we sent no certificate to a
// server that wants one (what names how the server showed it). The first
// cause is the identity that did not load, when one was given: telling
// the user to pass --keystore when they did would send them the wrong way.
func noClientCertificate(f *Facts, t *TLSFacts, what string) Verdict {
	if r, ok := f.Result("keystore.load"); ok && (r.Status == Fail || r.Status == Error) {
		return Failf("%s, but we sent none: the client identity did not load; first cause: %s (keystore.load)", what, r.Summary).
			With("first cause", "keystore.load").
			Fix("%s", firstNonEmpty(r.Remediation, "Fix what keystore.load reports, then run meshdoctor again."))
	}
	if t.IdentityErr != nil || f.Target.Keystore != "" || f.Target.CertFile != "" || f.Target.KeyFile != "" {
		why := "the client identity configured could not be used"
		if t.IdentityErr != nil {
			why = fmt.Sprintf("the client identity could not be loaded (%v)", t.IdentityErr)
		}
		return Failf("%s, but we sent none: %s", what, why).
			Fix("Run meshdoctor keystore inspect on the keystore (or certificate) you gave to see why it does not load, fix that, then run again.")
	}
	return Failf("%s, but none is configured", what).
		Fix("Pass --keystore with the environment's MESH keystore and set MESH_KEYSTORE_PASSWORD (or --cert and --key with the endpoint certificate NHS issued for your FQDN).")
}

// chainsToAcceptable reports whether our certificate (or its chain) names a
// CA the server listed.
func chainsToAcceptable(t *TLSFacts) bool {
	certs := append([]*x509.Certificate{t.ClientCert}, t.clientChain...)
	for _, raw := range t.acceptableRaw {
		for _, c := range certs {
			if bytes.Equal(c.RawIssuer, raw) || bytes.Equal(c.RawSubject, raw) {
				return true
			}
		}
	}
	return false
}

func mentionsCertificate(body []byte) bool {
	b := strings.ToLower(string(body))
	return strings.Contains(b, "ssl certificate") || strings.Contains(b, "client certificate")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
