package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var tcpConnect = Check{
	ID:    "tcp.connect",
	Title: "A TCP connection reaches MESH (directly or through the proxy)",
	Needs: []string{"dns.resolve"},
	Run:   judgeTCP,
}

func judgeTCP(ctx context.Context, f *Facts) Verdict {
	ep, err := f.Endpoint()
	if err != nil {
		return Errorf("no MESH address: %v", err)
	}
	t := f.TCP(ctx)
	var attempts []string
	for _, d := range t.Dials {
		if errors.Is(d.Err, errAbandoned) {
			attempts = append(attempts, fmt.Sprintf("%s not waited for", d.Addr))
		} else if d.Err != nil {
			attempts = append(attempts, fmt.Sprintf("%s %s", d.Addr, classifyNet(d.Err)))
		} else if t.Proxy != nil && t.Answer.Status == "" && t.ProxyErr != nil && classifyNet(t.ProxyErr) == failTimeout {
			// Took is the whole tunnel: the proxy took the connection,
			// then never answered CONNECT.
			attempts = append(attempts, fmt.Sprintf("%s connected; no answer to CONNECT after %s", d.Addr, d.Took.Round(1e5)))
		} else if t.Proxy != nil && t.Answer.Status != "" {
			attempts = append(attempts, fmt.Sprintf("%s connected; CONNECT answered in %s", d.Addr, d.Took.Round(1e5)))
		} else {
			attempts = append(attempts, fmt.Sprintf("%s connected in %s", d.Addr, d.Took.Round(1e5)))
		}
	}
	evidence := func(v Verdict) Verdict {
		v = v.With("port", ep.Port).With("attempts", strings.Join(attempts, "; "))
		if t.RouteErr == nil {
			v = v.With("route", t.Route.Describe())
		}
		for _, n := range t.Route.Notes {
			v = v.With("proxy variables", n)
		}
		if t.Proxy != nil {
			v = v.With("proxy", t.Proxy.String()).With("proxy answer", firstNonEmpty(t.Answer.Status, "none"))
			if len(t.Answer.Schemes) > 0 {
				v = v.With("proxy offers", strings.Join(t.Answer.Schemes, ", "))
			}
			var te *mesh.TunnelError
			if refused := errors.As(t.ProxyErr, &te) && te.Kind == mesh.TunnelAuthRefused; t.Answer.Auth != "" && refused {
				// Refused: "authenticated" would say the opposite.
				v = v.With("credentials tried", t.Answer.Auth+" as "+t.Proxy.User)
			} else if t.Answer.Auth != "" {
				v = v.With("authenticated with", t.Answer.Auth+" as "+t.Proxy.User)
			}
			if p := firstNonEmpty(t.Answer.Server, t.Answer.Via); p != "" {
				v = v.With("proxy software", p)
			}
			if t.Answer.ProxyError != "" {
				v = v.With("proxy error", t.Answer.ProxyError)
			}
		}
		return v
	}
	if t.RouteErr != nil {
		return evidence(Failf("the proxy setting cannot be used: %v", t.RouteErr)).
			Fix("Correct the proxy setting named above; meshdoctor does not guess what a value that does not parse meant (Go's own fallback would read the password's pieces as the proxy's name).")
	}
	if t.Proxy != nil {
		if t.ProxyErr != nil {
			return evidence(proxyFailure(f, t, ep))
		}
		return evidence(Passf("through the proxy %s (%s): %s", t.Proxy.String(), t.Route.Why, t.Answer.Status))
	}
	if t.Connected != "" {
		v := Passf("connected to %s", t.Connected)
		for _, d := range t.Dials {
			if d.Err != nil && !errors.Is(d.Err, errAbandoned) {
				if a, err := netip.ParseAddrPort(d.Addr); err == nil && a.Addr().Is4() {
					v = Warnf("connected to %s, but not to every address of %s", t.Connected, ep.Host)
					v = v.Fix("Some of MESH's addresses are %s from here: a firewall may allow only some of them. Ask your network team to allow TCP %s to every address MESH resolves to.", classifyNet(d.Err), ep.Port)
				}
			}
		}
		return evidence(v)
	}
	if len(t.Dials) == 0 {
		return Errorf("no address to connect to").Fix("See dns.resolve.")
	}
	kind := classifyNet(t.Dials[0].Err)
	for _, d := range t.Dials {
		if k := classifyNet(d.Err); k == failTimeout || k == failReset {
			kind = k // a filter speaks louder than a refusal on one address
		}
	}
	v := evidence(Failf("cannot connect to %s port %s: %s", ep.Host, ep.Port, describeNetFailure(kind)))
	if t.Route.Bypass != "" && kind != failRefused {
		// The proxy would have carried it: the bypass is the cause.
		return v.With("first cause", t.Route.Why).
			Fix("MESH traffic goes direct because %s, but this network does not let it out directly (%s). Remove %q from %s so that MESH goes through the proxy (%s), or ask your network team to allow outbound TCP %s to %s.",
				t.Route.Why, describeNetFailure(kind), t.Route.Bypass, f.Target.Proxy.Env.NoProxyVar, f.Target.Proxy.Env.HTTPSVar, ep.Port, ep.Host)
	}
	switch kind {
	case failRefused:
		return v.Fix("Nothing accepts connections on port %s there. Check the URL and port (MESH uses 443), or whether a local firewall rejects the connection.", ep.Port)
	case failTimeout:
		return v.Fix("The connection was silently dropped (filtered): a firewall between this machine and MESH blocks TCP %s. Ask your network team to allow outbound TCP %s to %s, or set HTTPS_PROXY if your network reaches the internet only through a proxy.", ep.Port, ep.Port, ep.Host)
	case failReset:
		return v.Fix("Something between here and MESH reset the connection (a firewall or proxy that rejects it). Ask your network team to allow outbound TCP %s to %s.", ep.Port, ep.Host)
	case failUnreachable:
		return v.Fix("This machine has no route to %s: check its network connection, default gateway and VPN.", ep.Host)
	}
	return v.Fix("Check this machine's network connection and firewall for outbound TCP %s.", ep.Port)
}

func describeNetFailure(k netFailure) string {
	switch k {
	case failRefused:
		return "connection refused"
	case failTimeout:
		return "timed out (no answer: filtered by a firewall?)"
	case failReset:
		return "connection reset"
	case failUnreachable:
		return "network or host unreachable"
	case failClosed:
		return "connection closed"
	}
	return "connection failed"
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// proxyFailure names why the proxy gave no tunnel, in the words a network
// team uses, with what to ask them.
func proxyFailure(f *Facts, t *TCPFacts, ep Endpoint) Verdict {
	var te *mesh.TunnelError
	if !errors.As(t.ProxyErr, &te) {
		return Failf("through the proxy %s: %v", t.Proxy, t.ProxyErr).
			Fix("Check the proxy setting (%s): the proxy %s could not be used.", t.Route.Why, t.Proxy)
	}
	p, target, from := t.Proxy.String(), ep.HostPort(), t.Route.Why
	offers := strings.Join(te.Answer.Schemes, ", ")
	windowsOnly := len(te.Answer.Schemes) > 0 && !offered(te.Answer.Schemes, "Basic")
	creds := "set MESH_PROXY_USER (DOMAIN\\user for Windows sign-in) and MESH_PROXY_PASSWORD (or MESH_PROXY_PASSWORD_FILE); for the exporter, the target's proxy_user and secrets.proxy_password"
	switch te.Kind {
	case mesh.TunnelUnreachable:
		var dns *net.DNSError
		if errors.As(te.Err, &dns) {
			return Failf("the proxy's name %s does not resolve here (from %s)", t.Proxy.Host, from).With("error", te.Err).
				Fix("Check %s: the proxy's host name is misspelt, or this machine's DNS cannot see it. Ask your network team for the proxy's name and port.", from)
		}
		kind := classifyNet(te.Err)
		return Failf("the proxy %s (from %s) cannot be reached: %s", t.Proxy.Addr(), from, describeNetFailure(kind)).With("error", te.Err).
			Fix("Check %s: is the proxy's address and port right, and is it running? A firewall may also block this machine from the proxy.", from)
	case mesh.TunnelTLS:
		if te.NotTLS {
			return Failf("the proxy %s speaks plain HTTP, but %s gives it as https://", t.Proxy.Addr(), from).
				Fix("Use http:// for this proxy in %s (http://%s): the scheme is how to talk to the proxy, not what it carries; HTTPS to MESH still goes end to end through its CONNECT tunnel.", from, t.Proxy.Addr())
		}
		var verr *tls.CertificateVerificationError
		if errors.As(te.Err, &verr) {
			issuer := "?"
			if len(verr.UnverifiedCertificates) > 0 {
				issuer = verr.UnverifiedCertificates[0].Issuer.String()
			}
			// It speaks TLS: telling the user to check that would mislead.
			return Failf("this machine does not trust the certificate of the proxy %s (issued by %q): %v", t.Proxy.Addr(), issuer, verr.Err).
				Fix("The proxy speaks TLS (%s gives it as https://), but its certificate is not trusted here: add the proxy's CA to this machine's trust store (or point SSL_CERT_FILE at a PEM file that holds it) and name the proxy as its certificate does; or use http:// if the proxy also takes plain connections, as most do. This is TLS to the proxy only: MESH's own certificate is checked end to end inside the tunnel.", from)
		}
		return Failf("TLS to the proxy %s failed: %v", t.Proxy.Addr(), te.Err).
			Fix("The proxy is given as https:// (%s): check it really speaks TLS on that port, or use http:// as most proxies expect.", from)
	case mesh.TunnelAuthRequired:
		if t.Proxy.User == "" && t.Proxy.HasPassword() {
			return Failf("the proxy %s wants authentication (%s), offering %s; a proxy password is set, but no user name to go with it", p, te.Answer.Status, firstNonEmpty(offers, "no scheme")).
				With("password from", firstNonEmpty(f.Source("proxy_password"), "the proxy URL")).
				Fix("Give the proxy user name too: MESH_PROXY_USER (DOMAIN\\user for Windows sign-in), or user@ in the proxy URL; for the exporter, the target's proxy_user.")
		}
		if t.Proxy.User != "" && !t.Proxy.HasPassword() && (len(te.Answer.Schemes) == 0 || offered(te.Answer.Schemes, "Basic") || offered(te.Answer.Schemes, "NTLM")) {
			return Failf("the proxy %s wants authentication (%s), offering %s; the user %s is given, but no password", p, te.Answer.Status, firstNonEmpty(offers, "no scheme"), t.Proxy.User).
				Fix("Give the proxy password: MESH_PROXY_PASSWORD or MESH_PROXY_PASSWORD_FILE (never a flag); for the exporter, the target's secrets.proxy_password. Or ask your network team to allow %s without authentication.", target)
		}
		v := Failf("the proxy %s wants authentication (%s), offering %s; no credentials were given", p, te.Answer.Status, firstNonEmpty(offers, "no scheme"))
		if windowsOnly && !offered(te.Answer.Schemes, "NTLM") {
			return v.Fix("The proxy offers only Windows sign-in by Kerberos (Negotiate), which meshdoctor and MESH clients cannot answer. Ask your network team to exempt %s from proxy authentication (an allow-listed route for the MESH host), or to offer NTLM or Basic for it.", target)
		}
		if windowsOnly {
			return v.Fix("The proxy wants Windows sign-in (%s). Ask your network team to exempt %s from proxy authentication (an allow-listed route for the MESH host, as MESH clients running as services need); or give an account for NTLM: %s.", offers, target, creds)
		}
		return v.Fix("Give the proxy's credentials: %s; or ask your network team to allow %s without them.", creds, target)
	case mesh.TunnelAuthUnsupported:
		return Failf("the proxy %s accepts only %s authentication, and would not take NTLM in it: Windows sign-in by Kerberos, which meshdoctor and MESH clients cannot give", p, offers).
			Fix("Ask your network team to exempt %s from proxy authentication (an allow-listed route for the MESH host), or to offer NTLM for it.", target)
	case mesh.TunnelAuthRefused:
		domain := ""
		if te.Answer.Auth != "Basic" && !strings.ContainsAny(t.Proxy.User, `\@`) {
			domain = fmt.Sprintf(" For Windows sign-in the user usually needs its domain (DOMAIN\\%s).", t.Proxy.User)
		}
		return Failf("the proxy refused the credentials for user %s (%s authentication: %s)", t.Proxy.User, te.Answer.Auth, te.Answer.Status).
			With("credentials from", firstNonEmpty(f.Source("proxy_password"), "the user information of "+from)).
			Fix("Check the proxy user and password (MESH_PROXY_USER and MESH_PROXY_PASSWORD, or the user information of %s).%s A locked or expired account is refused the same way. Or ask your network team to exempt %s from proxy authentication.",
				from, domain, target)
	case mesh.TunnelRefused:
		v := Failf("the proxy %s refused the tunnel to %s: %s", p, target, te.Answer.Status)
		if len(te.Answer.Body) > 0 {
			v = v.With("proxy page", gist(te.Answer.Body))
		}
		switch code := te.Answer.Code; {
		case code == 403:
			return v.Fix("The proxy's policy blocks %s: ask your network team to allow HTTPS (CONNECT) to it, and to exempt it from SSL inspection (MESH needs mutual TLS end to end).", target)
		case te.Answer.ProxyError == "ERR_DNS_FAIL":
			return v.Fix("The proxy cannot resolve %s (its own DNS): ask your network team to make MESH's name resolvable from the proxy (for the HSCN route, the HSCN DNS), and to allow the proxy out to TCP %s on it.", ep.Host, ep.Port)
		case code >= 500:
			// 500 too: Squid's ERR_CANNOT_FORWARD, a proxy with no way on.
			return v.Fix("The proxy could not reach %s itself (its DNS or its own firewall): ask your network team to allow the proxy out to TCP %s on %s.", target, ep.Port, ep.Host)
		}
		return v.Fix("Ask your network team why the proxy refuses CONNECT to %s; or set NO_PROXY=%s (or --no-proxy) if MESH is reachable directly.", target, ep.Host)
	}
	if classifyNet(te.Err) == failTimeout {
		return Failf("the proxy %s took the connection but did not answer CONNECT to %s in time", p, target).With("error", te.Err).
			Fix("The proxy is probably trying to reach %s itself and its own way out is dropped (a firewall upstream of the proxy). Ask your network team to allow the proxy out to TCP %s on %s.", target, ep.Port, ep.Host)
	}
	return Failf("the proxy %s did not answer CONNECT as an HTTP proxy does: %v", p, te.Err).
		Fix("Check %s names an HTTP proxy (its host and port): what answers there is not one, or it closed the connection.", from)
}

func offered(schemes []string, s string) bool {
	for _, o := range schemes {
		if strings.EqualFold(o, s) {
			return true
		}
	}
	return false
}
