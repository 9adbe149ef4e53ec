package checks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
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
		} else {
			attempts = append(attempts, fmt.Sprintf("%s connected in %s", d.Addr, d.Took.Round(1e5)))
		}
	}
	evidence := func(v Verdict) Verdict {
		v = v.With("port", ep.Port).With("attempts", strings.Join(attempts, "; "))
		if t.Proxy != nil {
			v = v.With("proxy", redactURL(t.Proxy)).With("proxy answer", t.ProxyAnswer)
		}
		return v
	}
	if t.Proxy != nil {
		var refused *ProxyRefusedError
		switch {
		case errors.As(t.ProxyErr, &refused):
			v := evidence(Failf("%v", refused))
			switch {
			case strings.HasPrefix(refused.Status, "407"):
				return v.Fix("The proxy wants credentials: put them in the proxy URL (HTTPS_PROXY=http://user:password@proxy:port) or ask your network team to allow %s without them.", ep.HostPort())
			case strings.HasPrefix(refused.Status, "403"):
				return v.Fix("The proxy's policy blocks %s: ask your network team to allow HTTPS (CONNECT) to it.", ep.HostPort())
			}
			return v.Fix("Ask your network team why the proxy refuses CONNECT to %s; or set NO_PROXY=%s if MESH is reachable directly.", ep.HostPort(), ep.Host)
		case t.ProxyErr != nil:
			return evidence(Failf("through the proxy: %v", t.ProxyErr)).
				Fix("Check HTTPS_PROXY/NO_PROXY: the proxy %s could not be used.", redactURL(t.Proxy))
		case t.Connected == "" && len(t.Dials) > 0:
			return evidence(Failf("the proxy %s cannot be reached: %s", t.Dials[0].Addr, classifyNet(t.Dials[0].Err))).
				Fix("Check HTTPS_PROXY: is the proxy's address and port right, and is it running?")
		}
		return evidence(Passf("through the proxy %s: %s", redactURL(t.Proxy), t.ProxyAnswer))
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
