package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var targetEligibility = Check{
	ID:      "target.eligibility",
	Title:   "The environment and route exist and are open to the MESH API",
	Offline: true,
	Run:     judgeEligibility,
}

func judgeEligibility(_ context.Context, f *Facts) Verdict {
	t := f.Target
	if t.URL != "" {
		return judgeURLEligibility(t)
	}
	route := t.Route
	if route == "" {
		route = mesh.Internet
	}
	ep, err := mesh.LookupEndpoint(t.Environment, route)
	var none *mesh.NoEndpointError
	if errors.As(err, &none) {
		v := Failf("MESH %s is not offered over %s", t.Environment.Title(), route).
			With("environment", t.Environment).With("route", route)
		if len(none.Alternatives) > 0 {
			alt := none.Alternatives[0]
			return v.With("offered over", string(alt.Route)+" ("+alt.Host+")").
				Fix("Use --route %s (host %s), or choose an environment offered over %s: MESH over the internet is Integration (int) in path to live, and live.", alt.Route, alt.Host, route)
		}
		return v
	}
	if err != nil {
		return Failf("%v", err).Fix("Pass --env with one of int, dev, dep, train, live.")
	}
	return judgeEndpoint(ep, "")
}

// judgeEndpoint judges a catalogue endpoint: its status, whether the MESH
// API (which meshdoctor speaks) is offered there, and live.
func judgeEndpoint(ep mesh.Endpoint, via string) Verdict {
	name := fmt.Sprintf("%s over %s (%s)", ep.Environment.Title(), ep.Route, ep.Host)
	evidence := func(v Verdict) Verdict {
		return v.With("environment", ep.Environment.Title()).With("route", ep.Route).With("host", ep.Host).
			With("status", ep.Status).With("note", ep.Note).With("given as", via)
	}
	switch {
	case ep.Status == mesh.Retired:
		return evidence(Failf("%s is a retired MESH host", ep.Host)).Fix("%s", ep.Note)
	case ep.Environment.PathToLive() && ep.Environment != mesh.Integration:
		return evidence(Warnf("%s: NHS's path-to-live guide offers the MESH API only in Integration", name)).
			Fix("Use --env int for the MESH API; %s is for the Java MESH client. About this host: %s.", ep.Environment.Title(), ep.Note)
	case ep.Status == mesh.Deprecated:
		return evidence(Warnf("%s: HSCN endpoints are deprecated", name)).
			Fix("New integrations should use the internet host: --route internet (a UK source address and a SHA-2 keystore are then required).")
	case ep.Status == mesh.Unconfirmed:
		return evidence(Warnf("%s: this host is not in the published MESH API specification", name)).Fix("%s.", ep.Note)
	case ep.Environment == mesh.Live:
		return evidence(Passf("%s — this is LIVE: real messages to real organisations", name))
	}
	return evidence(Passf("%s exists and is open to the MESH API", name))
}

func judgeURLEligibility(t mesh.Target) Verdict {
	base, err := t.BaseURL()
	if err != nil {
		return Failf("%v", err).Fix("Give --url as https://host[:port], e.g. https://msg.intspineservices.nhs.uk.")
	}
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://") // BaseURL is scheme://host[:port]
	if ep, ok := mesh.EndpointForURL(t.URL); ok {
		v := judgeEndpoint(ep, "--url "+t.URL)
		if t.Environment != "" && t.Environment != ep.Environment && v.Status != Fail {
			return Warnf("--url points at %s but the environment is %s", ep.Environment.Title(), t.Environment.Title()).
				WithEvidence(v.Evidence).
				Fix("Drop --url and use --env/--route, or set --env %s to match the URL: certificates, keystore passwords and CA bundles differ per environment.", ep.Environment)
		}
		return v
	}
	if ep, ok := mesh.SuggestHost(t.URL); ok {
		return Failf("%s is not a MESH host; it looks like a misspelling of %s", host, ep.Host).
			With("given", t.URL).With("likely meant", ep.BaseURL()).With("environment", ep.Environment.Title()).With("route", ep.Route).
			Fix("Use --url %s (or --env %s --route %s).", ep.BaseURL(), ep.Environment, ep.Route)
	}
	return Skipf("%s is not an NHS MESH host (a sandbox, test host or proxy): nothing to judge against NHS's catalogue", host).
		With("url", t.URL)
}
