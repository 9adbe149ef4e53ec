package checks

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// This file recognises SSL inspection (a proxy or firewall that decrypts
// TLS: Zscaler, Palo Alto, Fortinet, Squid ssl_bump) from facts the run
// already has. Mutual TLS cannot pass such a device: it re-signs MESH's
// certificate with its own CA and has no client certificate to present to
// MESH. Named as its own cause, the user is not sent to add the inspection
// CA to the bundle, which only moves the failure to the next step.

// inspectionProducts match the issuer names that inspecting devices and
// endpoint security products give their re-signing CAs.
var inspectionProducts = regexp.MustCompile(`(?i)zscaler|palo ?alto|fortinet|fortigate|squid|blue ?coat|symantec web|broadcom|websense|forcepoint|sophos|mcafee|skyhigh|check ?point|netskope|umbrella|barracuda|watchguard|sonicwall|cisco|iboss|smoothwall|lightspeed|kaspersky|\beset\b|avast|bitdefender|mitmproxy|untangle|menlo|cloudflare gateway|ssl.?inspection|tls.?inspection|ssl.?decrypt|man.in.the.middle`)

// interception is the evidence that TLS to MESH was intercepted, or nil.
type interception struct {
	// CA is the subject of the CA that issued what we were shown.
	CA string
	// Signs are the facts that point at inspection, in words.
	Signs []string
}

// intercepted judges the handshake: a certificate for a MESH host from a
// CA that is not NHS's, or, through a proxy, a server that re-signs and
// does not ask for a client certificate (MESH always does).
func intercepted(f *Facts, t *TLSFacts) *interception {
	if len(t.Presented) == 0 || t.Plain {
		return nil
	}
	if _, _, nhs := spineCAOfPresented(t.Presented); nhs {
		return nil
	}
	ep, _ := f.Endpoint()
	leaf := t.Presented[0]
	top := t.Presented[len(t.Presented)-1]
	in := &interception{CA: leaf.Issuer.String()}
	if top != leaf {
		in.CA = top.Issuer.String()
	}
	// A current MESH host presents a certificate from a Spine CA (the
	// retired internet gateway used DigiCert).
	catalogued, known := mesh.EndpointForURL(ep.Host)
	meshHost := known && catalogued.Status != mesh.Retired
	route, _ := f.Route()
	if meshHost {
		in.Signs = append(in.Signs, fmt.Sprintf("%s is NHS's MESH host, but its certificate is not issued by an NHS (Spine) CA", ep.Host))
	}
	if product := productIn(t.Presented); product != "" {
		in.Signs = append(in.Signs, fmt.Sprintf("the issuer names %q, an inspection product", product))
	}
	if !t.Requested && t.Err == nil {
		in.Signs = append(in.Signs, "the server did not ask for a client certificate, which MESH always does")
	}
	if route.Proxy != nil {
		in.Signs = append(in.Signs, "the connection goes through the proxy "+route.Proxy.String())
	}
	// A certificate on MESH's own host from a CA that does not even call
	// itself NHS's is enough (an NHS CA newer than meshdoctor's table is
	// not); otherwise two signs are needed: a URL of a test host behind a
	// proxy that re-signs and asks for no client certificate.
	if meshHost && !nhsNamed(leaf.Issuer.Organization) {
		return in
	}
	if len(in.Signs) >= 2 {
		return in
	}
	return nil
}

func productIn(chain []*x509.Certificate) string {
	for _, c := range chain {
		for _, s := range append([]string{c.Issuer.String()}, c.Subject.String()) {
			if m := inspectionProducts.FindString(s); m != "" {
				return m
			}
		}
	}
	return ""
}

// interceptionVerdict names SSL inspection as the cause, with the host
// names the network team must exempt.
func interceptionVerdict(f *Facts, in *interception) Verdict {
	ep, _ := f.Endpoint()
	return Failf("TLS to %s is intercepted (SSL inspection): the certificate we were shown comes from %q, not from NHS", ep.Host, in.CA).
		With("inspecting CA", in.CA).
		With("signs of inspection", strings.Join(in.Signs, "; ")).
		With("exempt from inspection", strings.Join(exemptHosts(f), ", ")).
		Fix("Mutual TLS cannot pass SSL inspection: the inspecting proxy or firewall re-signs MESH's certificate with its own CA and cannot present your client certificate to MESH, so MESH refuses the connection. Do not add the inspection CA to your CA bundle: that only moves the failure. Ask your network team to exempt %s from SSL inspection (do not decrypt; TLS passed through untouched), on the proxy and on any firewall that decrypts.",
			strings.Join(exemptHosts(f), " and "))
}

// exemptHosts are the host:port names to exempt for the target: the
// catalogue's host for the chosen environment and route, or the URL's host.
func exemptHosts(f *Facts) []string {
	ep, _ := f.Endpoint()
	hosts := []string{ep.HostPort()}
	if env := f.Target.Environment; env != "" {
		route := f.Target.Route
		if route == "" {
			route = mesh.Internet
		}
		if e, err := mesh.LookupEndpoint(env, route); err == nil && e.Host != ep.Host {
			hosts = append(hosts, e.Host+":443")
		}
	}
	return hosts
}

func nhsNamed(org []string) bool {
	for _, o := range org {
		if strings.EqualFold(strings.TrimSpace(o), "nhs") {
			return true
		}
	}
	return false
}
