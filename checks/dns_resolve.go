package checks

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var dnsResolve = Check{
	ID:    "dns.resolve",
	Title: "The MESH host name resolves",
	Run:   judgeDNS,
}

func judgeDNS(ctx context.Context, f *Facts) Verdict {
	_, err := f.Endpoint()
	if err != nil {
		return Errorf("no MESH address to resolve: %v", err).Fix("Give --env/--route or a valid --url.")
	}
	d := f.DNS(ctx)
	if d.Literal {
		return Passf("%s is an IP address: nothing to resolve", d.Host).With("address", d.Host)
	}
	v := func(v Verdict) Verdict {
		return v.With("host", d.Host).With("A", joinAddrs(d.IPv4)).With("AAAA", joinAddrs(d.IPv6)).
			With("resolvers", strings.Join(d.Resolvers, ", ")).With("took", d.Took.Round(1e6))
	}
	if err := d.Err(); err != nil {
		route, rerr := f.Route()
		var perr *mesh.ProxyError
		if errors.As(rerr, &perr) {
			// Where the name does not resolve here, the proxy is the way
			// out, and it cannot be used: that is the first cause.
			return v(Failf("%s does not resolve here, and the proxy setting cannot be used: %v", d.Host, rerr)).With("error", err).
				Fix("Correct the proxy setting (%s): the proxy would resolve the name.", perr.From)
		}
		if route.Proxy != nil {
			return v(Warnf("%s does not resolve here, but MESH traffic goes through the proxy %s (%s), which resolves it", d.Host, route.Proxy, route.Why)).
				With("error", err).
				Fix("Nothing to do if the proxy reaches MESH (see tcp.connect); otherwise check the proxy settings (HTTPS_PROXY, NO_PROXY).")
		}
		if route.Bypass != "" && f.Target.Proxy.Env.HTTPS != "" {
			// A proxy is configured, and would resolve the name: the bypass
			// is the cause.
			return v(dnsFailure(d.Host, err)).With("route", route.Describe()).With("first cause", route.Why).
				Fix("MESH traffic goes direct because %s, but this machine's DNS cannot resolve %s; the proxy (%s) would. Remove %q from %s, or ask your network team for direct access.",
					route.Why, d.Host, f.Target.Proxy.Env.HTTPSVar, route.Bypass, f.Target.Proxy.Env.NoProxyVar)
		}
		return v(dnsFailure(d.Host, err))
	}
	return v(Passf("%s resolves to %s", d.Host, joinAddrs(d.Addrs())))
}

func dnsFailure(host string, err error) Verdict {
	var de *net.DNSError
	notFound := errors.As(err, &de) && de.IsNotFound
	v := Failf("%s does not resolve: %s", host, dnsReason(err)).With("error", err)
	if s, ok := mesh.SuggestHost(host); ok {
		return v.With("likely meant", s.Host).
			Fix("%s looks like a misspelling of %s (%s over %s). Use --url %s, or --env %s --route %s.",
				host, s.Host, s.Environment.Title(), s.Route, s.BaseURL(), s.Environment, s.Route)
	}
	if notFound && strings.HasSuffix(host, ".ncrs.nhs.uk") {
		return v.Fix("This name resolves only on HSCN (the NHS private network). Run meshdoctor on a machine connected to HSCN, or use the internet route (--route internet), where MESH is msg.intspineservices.nhs.uk (Integration) or mesh-sync.spineservices.nhs.uk (live).")
	}
	if ep, known := mesh.EndpointForURL(host); notFound && known && ep.Status != mesh.Retired {
		return v.Fix("%s is MESH's published name, so this machine's DNS cannot see internet names: it may use a private-only resolver, or the network may reach the internet only through a proxy. Check the DNS servers (%s), or set HTTPS_PROXY to your proxy (it then resolves the name).", host, "/etc/resolv.conf")
	}
	if notFound {
		return v.Fix("Check the host name. MESH hosts are msg.intspineservices.nhs.uk (Integration, internet) and mesh-sync.spineservices.nhs.uk (live, internet); HSCN hosts end in .spine2.ncrs.nhs.uk.")
	}
	return v.Fix("This machine's DNS did not answer: check its network connection and DNS servers (/etc/resolv.conf), or the proxy settings if your network only reaches the internet through a proxy.")
}

func dnsReason(err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return "no such host (NXDOMAIN)"
	case errors.As(err, &de) && de.IsTimeout:
		return "the DNS server did not answer in time"
	case errors.As(err, &de):
		return de.Err
	}
	return err.Error()
}
