package checks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/mesh"
)

// The PTL guide: a MESH client over the internet "requires a SHA2 keystore
// and the source address must be a UK IP address".
var geoSourceIP = Check{
	ID:    "geo.source-ip",
	Title: "The address MESH sees is a UK address, as MESH over the internet requires",
	Run: func(ctx context.Context, f *Facts) Verdict {
		getenv := f.Options.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		services := geo.DefaultServices()
		if v := strings.TrimSpace(getenv(geo.EnvServices)); v != "" {
			var err error
			if strings.EqualFold(v, "none") {
				services = nil
			} else if services, err = geo.ParseServices(v); err != nil {
				return Errorf("%s: %v", geo.EnvServices, err).Fix("Give https URLs separated by commas, or none to use the DNS methods only.")
			}
		}
		env := sourceIPEnv{
			search:   geo.Search{Flag: f.Options.GeoIPDB, Getenv: getenv},
			discover: geo.Discoverer{Services: services, DNS: geo.DefaultDNSMethods(), Proxy: f.Target.Proxy.Func()},
			local: func(ctx context.Context, host string) ([]netip.Addr, error) {
				return geo.LocalSource(ctx, f.Options.Resolver, host, 443)
			},
		}
		return judgeSourceIP(ctx, f, env)
	},
}

// sourceIPEnv is what the check reaches out to; the tests point it at
// local databases, services and DNS servers.
type sourceIPEnv struct {
	search   geo.Search
	discover geo.Discoverer
	// local is the local address toward each family of the MESH host.
	local func(ctx context.Context, host string) ([]netip.Addr, error)
}

const ukEgressFix = "MESH over the internet accepts connections only from UK addresses. Route MESH traffic " +
	"through an egress (proxy, NAT gateway or VPN endpoint) in the UK, or connect over HSCN instead."

func judgeSourceIP(ctx context.Context, f *Facts, env sourceIPEnv) Verdict {
	host, route, nhs := sourceIPTarget(f.Target)
	if route == mesh.HSCN {
		return Skipf("the UK-address rule is for MESH over the internet; this target is reached over HSCN").
			With("host", host)
	}
	loopback := isLoopbackHost(host)

	var given netip.Addr
	if s := strings.TrimSpace(f.Options.SourceIP); s != "" {
		a, err := geo.ParseAddr(s)
		if err != nil {
			return Errorf("--source-ip: %v", err).Fix("Give the public address your MESH traffic leaves from, e.g. --source-ip 81.2.69.142.")
		}
		if sc := geo.ScopeOf(a); sc != geo.Public {
			return Errorf("--source-ip %s is %s: this is not the address MESH sees", a, sc.Describe()).
				With("address", a).With("scope", string(sc)).
				Fix("Give the public address of the gateway or proxy that MESH traffic leaves through (your network team knows it), or leave --source-ip out to discover it.")
		}
		given = a
	}
	if loopback && !given.IsValid() {
		// A sandbox or test server on this machine: asking public services
		// for this machine's address would say nothing about it, and
		// meshdoctor keeps such runs on loopback.
		return Skipf("the target %s is on this machine, so no address was looked up: the UK-address rule is for MESH over the internet", host).
			With("host", host).
			Fix("To judge an address anyway, pass --source-ip with the public address MESH traffic would leave from.")
	}

	db, place, err := env.search.OpenFound()
	if err != nil {
		var nf *geo.NotFoundError
		if errors.As(err, &nf) {
			var looked []string
			for _, p := range nf.Looked {
				looked = append(looked, p.Path)
			}
			return Skipf("no GeoIP country database found, so the source address cannot be judged: run 'meshdoctor geo update'").
				With("looked in", strings.Join(looked, ", ")).
				Fix("Run 'meshdoctor geo update' to download DB-IP's free country database (no account needed), " +
					"or pass --geoip-db FILE (or set MESHDOCTOR_GEOIP_DB) to use a MaxMind GeoLite2/GeoIP2 Country or City database.")
		}
		return Errorf("%v", err).
			Fix("Point --geoip-db (or MESHDOCTOR_GEOIP_DB) at a country or city .mmdb database, or run 'meshdoctor geo update'.")
	}
	defer db.Close()
	info := db.Info()
	dbEvidence := Evidence{
		{"database", info.Path},
		{"database type", info.Type},
		{"database built", info.Built.Format(time.DateOnly)},
		{"database source", place.Source},
	}

	// The addresses to judge, with the way each was found.
	var cands []egressCandidate
	var extra Evidence
	var warnings []string
	if given.IsValid() {
		cands = []egressCandidate{{given, "--source-ip"}}
	} else {
		if p := proxyFor(f, host); p != "" {
			extra = append(extra, Fact{"proxy", p})
		}
		// Ask the MESH host's families at once with the discovery: the
		// answers say which family MESH traffic leaves by.
		type localResult struct {
			addrs []netip.Addr
			err   error
		}
		localCh := make(chan localResult, 1)
		go func() {
			if host == "" {
				localCh <- localResult{}
				return
			}
			// Resolving the MESH host may hang where DNS is filtered: bound it.
			lctx, cancel := context.WithTimeout(ctx, 4*time.Second)
			defer cancel()
			a, err := env.local(lctx, host)
			localCh <- localResult{a, err}
		}()
		eg := geo.Consolidate(env.discover.Discover(ctx))
		local := <-localCh
		if len(eg.Addrs()) == 0 {
			why := eg.Why()
			if ctx.Err() != nil {
				why = "the time limit was reached before any method answered; " + why
			}
			return Errorf("no egress address found: every method failed").With("why", why).
				Fix("Let meshdoctor reach an HTTPS what-is-my-IP service through your proxy (set HTTPS_PROXY as for MESH, or list services in " +
					geo.EnvServices + "), or give the address with --source-ip.")
		}
		families := map[bool]bool{} // is4 → MESH leaves by it
		for _, la := range local.addrs {
			families[la.Is4()] = true
		}
		for _, a := range eg.Addrs() {
			if len(families) > 0 && !families[a.Is4()] {
				continue // MESH is not reached over this family
			}
			cands = append(cands, egressCandidate{a, methodOf(eg, a)})
		}
		if len(cands) == 0 { // families unknown or unmatched: judge what was found
			for _, a := range eg.Addrs() {
				cands = append(cands, egressCandidate{a, methodOf(eg, a)})
			}
		}
		if eg.Disagree {
			w := "the discovery methods disagree about the egress address"
			if _, viaProxy := extra.Get("proxy"); viaProxy {
				w += " (MESH traffic goes through a proxy: the HTTPS answers, made through it, are what MESH sees; DNS goes direct)"
			}
			warnings = append(warnings, w)
			extra = append(extra, Fact{"answers", answersText(eg)})
		}
		_, proxied := extra.Get("proxy")
		for _, la := range local.addrs {
			for _, c := range cands {
				if la.Is4() != c.addr.Is4() || la.IsLoopback() || proxied {
					// Through a proxy, this machine's own route does not
					// reach MESH: the proxy's egress is what MESH sees.
					continue
				}
				key := "NAT"
				if la.Is6() {
					key = "NAT IPv6"
				}
				if la == c.addr {
					extra = append(extra, Fact{key, fmt.Sprintf("none: this machine's own address %s is what MESH sees", la)})
				} else {
					extra = append(extra, Fact{key, fmt.Sprintf("behind NAT: this machine's address toward MESH is %s (%s); MESH sees the gateway's address %s", la, geo.ScopeOf(la), c.addr)})
				}
			}
		}
		if local.err != nil {
			extra = append(extra, Fact{"local address", "unknown: " + local.err.Error()})
		}
	}

	var ev Evidence
	var fails, errs, found []string
	for i, c := range cands {
		suffix := ""
		if i > 0 {
			suffix = " " + strconv.Itoa(i+1)
		}
		ev = append(ev, Fact{"address" + suffix, c.addr.String()}, Fact{"found by" + suffix, c.method})
		if sc := geo.ScopeOf(c.addr); sc != geo.Public {
			errs = append(errs, fmt.Sprintf("%s answered %s, %s: this is not the address MESH sees", c.method, c.addr, sc.Describe()))
			continue
		}
		loc, err := db.Lookup(c.addr)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !loc.Found {
			errs = append(errs, fmt.Sprintf("%s is not in the GeoIP database %s", c.addr, info.Path))
			continue
		}
		ev = append(ev, Fact{"country" + suffix, countryText(loc.Country, loc.CountryName)})
		if loc.Registered != "" {
			ev = append(ev, Fact{"registered country" + suffix, loc.Registered})
		}
		if loc.Represented != "" {
			ev = append(ev, Fact{"represented country" + suffix, loc.Represented})
		}
		if loc.Network.IsValid() {
			ev = append(ev, Fact{"network" + suffix, loc.Network.String()})
		}
		if fl := loc.Flags(); len(fl) > 0 {
			ev = append(ev, Fact{"flags" + suffix, strings.Join(fl, ", ")})
			warnings = append(warnings, fmt.Sprintf("%s is flagged %s: its location means little", c.addr, strings.Join(fl, ", ")))
		}
		switch {
		case loc.Country == "GB":
			found = append(found, fmt.Sprintf("%s geolocates to the UK (GB)", c.addr))
		case loc.Country == "":
			found = append(found, fmt.Sprintf("%s has no country in the database (registered in %s)", c.addr, orUnknown(loc.Registered)))
			if len(loc.Flags()) == 0 {
				errs = append(errs, fmt.Sprintf("the GeoIP database gives no country for %s", c.addr))
			}
		default:
			fails = append(fails, fmt.Sprintf("%s geolocates to %s", c.addr, countryText(loc.Country, loc.CountryName)))
		}
	}
	if info.Stale(f.Now()) {
		stale := fmt.Sprintf("the GeoIP database is stale (built %s, more than %d days ago)",
			info.Built.Format(time.DateOnly), int(geo.StaleAfter.Hours()/24))
		warnings = append(warnings, stale)
		dbEvidence = append(dbEvidence, Fact{"database stale", stale})
	}
	ev = append(ev, extra...)
	ev = append(ev, dbEvidence...)
	if !nhs && !loopback && f.Target.URL != "" {
		ev = append(ev, Fact{"note", "the target is not an NHS MESH host; judged as for MESH over the internet"})
	}

	switch {
	case len(fails) > 0:
		return Failf("%s, not the UK: MESH over the internet will refuse this connection", strings.Join(fails, "; ")).
			WithEvidence(ev).Fix(ukEgressFix)
	case len(errs) > 0:
		return Errorf("%s", strings.Join(errs, "; ")).WithEvidence(ev).
			Fix("Update the GeoIP database ('meshdoctor geo update'), or give the public egress address with --source-ip.")
	case len(warnings) > 0:
		v := Warnf("%s; %s", strings.Join(found, "; "), strings.Join(warnings, "; ")).WithEvidence(ev)
		if info.Stale(f.Now()) {
			return v.Fix("Run 'meshdoctor geo update' (or geoipupdate) for a current database: address blocks move between countries.")
		}
		return v.Fix("Check with your network team which address MESH traffic leaves from, and judge it with --source-ip.")
	}
	return Passf("%s", strings.Join(found, "; ")).WithEvidence(ev)
}

// egressCandidate is an address to judge and how it was found.
type egressCandidate struct {
	addr   netip.Addr
	method string
}

// sourceIPTarget names the host MESH is reached at, its route ("" for a
// host that is not MESH's, such as a sandbox) and whether it is an NHS host.
func sourceIPTarget(t mesh.Target) (host string, route mesh.Route, nhs bool) {
	if t.URL != "" {
		if u, err := url.Parse(t.URL); err == nil {
			host = u.Hostname()
		}
		if ep, ok := mesh.EndpointForURL(t.URL); ok {
			return host, ep.Route, true
		}
		return host, "", false
	}
	route = t.Route
	if route == "" {
		route = mesh.Internet
	}
	if ep, err := mesh.LookupEndpoint(t.Environment, route); err == nil {
		host = ep.Host
	}
	return host, route, true
}

func isLoopbackHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// proxyFor names the proxy MESH traffic goes through (its address only).
func proxyFor(f *Facts, host string) string {
	if r, err := f.Route(); err == nil && r.Proxy != nil && host != "" {
		return r.Proxy.Addr()
	}
	return ""
}

func methodOf(e geo.Egress, a netip.Addr) string {
	for _, an := range e.Answers {
		if an.Err == nil && an.Addr == a {
			return an.Method
		}
	}
	return ""
}

func answersText(e geo.Egress) string {
	var parts []string
	for _, a := range e.Answers {
		if a.Err == nil {
			parts = append(parts, a.Method+" = "+a.Addr.String())
		}
	}
	return strings.Join(parts, "; ")
}

func countryText(code, name string) string {
	if name == "" {
		return code
	}
	return name + " (" + code + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown country"
	}
	return s
}
