package mesh

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Environment is a MESH environment: the four path-to-live environments and live.
type Environment string

// The MESH environments (mesh-api.md A.2).
const (
	Integration Environment = "int"
	Development Environment = "dev"
	Deployment  Environment = "dep"
	Training    Environment = "train"
	Live        Environment = "live"
)

// Environments lists every environment, path-to-live first.
func Environments() []Environment {
	return []Environment{Integration, Development, Deployment, Training, Live}
}

var environmentNames = map[Environment]string{
	Integration: "Integration",
	Development: "Development",
	Deployment:  "Deployment",
	Training:    "Training",
	Live:        "Live",
}

// Title is the environment's name as NHS England writes it.
func (e Environment) Title() string {
	if t, ok := environmentNames[e]; ok {
		return t
	}
	return string(e)
}

// PathToLive reports whether the environment is a test (path-to-live) one.
func (e Environment) PathToLive() bool { return e != Live }

// KeystorePassword returns the password of the environment's predefined MESH
// client keystore. Live has none: organisations choose their own.
func (e Environment) KeystorePassword() (string, bool) {
	switch e {
	case Integration:
		return "Spine2Int", true
	case Development:
		return "Spine2Dev", true
	case Deployment:
		return "Spine2Dep", true
	case Training:
		return "Spine2Train", true
	}
	return "", false
}

// ParseEnvironment accepts a short name ("int") or a full one ("integration"),
// in any case. "prod" and "production" mean live.
func ParseEnvironment(s string) (Environment, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "int", "integration":
		return Integration, nil
	case "dev", "development":
		return Development, nil
	case "dep", "deployment":
		return Deployment, nil
	case "train", "training":
		return Training, nil
	case "live", "prod", "production":
		return Live, nil
	}
	return "", fmt.Errorf("unknown MESH environment %q (want one of int, dev, dep, train, live)", s)
}

// Route is the network a connection crosses to reach MESH.
type Route string

// The two routes to MESH.
const (
	Internet Route = "internet"
	HSCN     Route = "hscn"
)

// ParseRoute accepts "internet" or "hscn", in any case.
func ParseRoute(s string) (Route, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "internet", "inet":
		return Internet, nil
	case "hscn", "n3":
		return HSCN, nil
	}
	return "", fmt.Errorf("unknown MESH route %q (want internet or hscn)", s)
}

// Status says how far a catalogue entry can be relied on.
type Status string

// Endpoint statuses.
const (
	// Current: published by NHS England and in use.
	Current Status = "current"
	// Deprecated: still answering, but NHS tells new integrations not to use it.
	Deprecated Status = "deprecated"
	// Unconfirmed: seen only in NHS client code, not in the published specification.
	Unconfirmed Status = "unconfirmed"
	// Retired: a host that used to serve MESH and should no longer be configured.
	Retired Status = "retired"
)

// Endpoint is one way to reach MESH: an environment over a route, at a host.
type Endpoint struct {
	Environment Environment
	Route       Route
	Host        string
	Status      Status
	// Note explains the status in words for a report.
	Note string
	// EgressAddresses are the addresses NHS England published for the
	// service (unconfirmed as current); empty where none were published.
	EgressAddresses []string
}

// BaseURL is the scheme and host that every API path is appended to.
func (e Endpoint) BaseURL() string { return "https://" + e.Host }

// Name is a short label such as "int/internet".
func (e Endpoint) Name() string { return string(e.Environment) + "/" + string(e.Route) }

var catalogue = []Endpoint{
	{Integration, Internet, "msg.intspineservices.nhs.uk", Current,
		"the MESH API's integration environment; the only path-to-live environment open to the MESH API",
		[]string{"3.11.177.31", "35.177.15.89", "3.11.199.83", "35.178.64.126", "18.132.113.121", "18.132.31.159"}},
	{Integration, HSCN, "msg.int.spine2.ncrs.nhs.uk", Deprecated,
		"HSCN endpoints are deprecated; new integrations should use the internet host", nil},
	{Development, HSCN, "msg.dev.spine2.ncrs.nhs.uk", Deprecated,
		"development is reached over HSCN only; HSCN endpoints are deprecated", nil},
	{Deployment, Internet, "msg.depspineservices.nhs.uk", Unconfirmed,
		"named by NHS's Python client but not by the published MESH API specification", nil},
	{Deployment, HSCN, "msg.dep.spine2.ncrs.nhs.uk", Deprecated,
		"HSCN endpoints are deprecated; new integrations should use the internet host", nil},
	{Training, HSCN, "msg.train.spine2.ncrs.nhs.uk", Deprecated,
		"training is reached over HSCN only, and NHS's Python client dropped it in version 3.0", nil},
	{Live, Internet, "mesh-sync.spineservices.nhs.uk", Current,
		"production over the internet",
		[]string{"18.132.56.40", "3.11.193.200", "35.176.248.137", "3.10.194.216", "35.176.231.190", "35.179.50.16"}},
	{Live, HSCN, "mesh-sync.national.ncrs.nhs.uk", Deprecated,
		"HSCN endpoints are deprecated; new integrations should use the internet host", nil},
}

// retired hosts map to the endpoint that replaced them.
var retired = map[string]Endpoint{
	"mesh.spineservices.nhs.uk": {Live, Internet, "mesh.spineservices.nhs.uk", Retired,
		"the old internet gateway; clients must use mesh-sync.spineservices.nhs.uk with an NHS-issued certificate", nil},
	"nww.dev.spine2.ncrs.nhs.uk": {Development, HSCN, "nww.dev.spine2.ncrs.nhs.uk", Retired,
		"the old development host; use msg.dev.spine2.ncrs.nhs.uk", nil},
	"nww.dep.spine2.ncrs.nhs.uk": {Deployment, HSCN, "nww.dep.spine2.ncrs.nhs.uk", Retired,
		"the old deployment host; use msg.dep.spine2.ncrs.nhs.uk", nil},
}

// Endpoints returns the catalogue of known environment and route combinations.
func Endpoints() []Endpoint {
	out := make([]Endpoint, len(catalogue))
	copy(out, catalogue)
	return out
}

// NoEndpointError says that an environment is not offered over a route.
type NoEndpointError struct {
	Environment Environment
	Route       Route
	// Alternatives are the routes that environment is offered over.
	Alternatives []Endpoint
}

func (e *NoEndpointError) Error() string {
	msg := fmt.Sprintf("MESH %s is not offered over %s", e.Environment.Title(), e.Route)
	if len(e.Alternatives) > 0 {
		var names []string
		for _, a := range e.Alternatives {
			names = append(names, fmt.Sprintf("%s (%s)", a.Route, a.Host))
		}
		msg += "; it is offered over " + strings.Join(names, ", ")
	}
	return msg
}

// LookupEndpoint finds the endpoint of an environment over a route. The
// error is a *NoEndpointError when the combination does not exist.
func LookupEndpoint(env Environment, route Route) (Endpoint, error) {
	nf := &NoEndpointError{Environment: env, Route: route}
	for _, e := range catalogue {
		if e.Environment != env {
			continue
		}
		if e.Route == route {
			return e, nil
		}
		nf.Alternatives = append(nf.Alternatives, e)
	}
	if len(nf.Alternatives) == 0 {
		return Endpoint{}, fmt.Errorf("unknown MESH environment %q", env)
	}
	return Endpoint{}, nf
}

// EndpointForURL names the catalogue entry a URL (or bare host name) points
// at, including retired hosts. ok is false for hosts MESH does not use, such
// as a local sandbox.
func EndpointForURL(raw string) (ep Endpoint, ok bool) {
	host := hostOf(raw)
	for _, e := range catalogue {
		if e.Host == host {
			return e, true
		}
	}
	if e, found := retired[host]; found {
		return e, true
	}
	return Endpoint{}, false
}

// SuggestHost returns the catalogue host a mistyped host name most likely
// meant, such as "msg.int.spine2.ncrs.nhs.uk" for "msg.int.spine2.ncrs.nh.uk".
// ok is false when the host is already right or is not close to any.
func SuggestHost(raw string) (ep Endpoint, ok bool) {
	host := hostOf(raw)
	if _, known := EndpointForURL(host); known || host == "" {
		return Endpoint{}, false
	}
	best, bestDist := Endpoint{}, 4 // more than three edits is a different name
	for _, e := range catalogue {
		if d := editDistance(host, e.Host); d < bestDist {
			best, bestDist = e, d
		}
	}
	return best, bestDist < 4
}

func hostOf(raw string) string {
	raw = strings.TrimSpace(raw)
	if strings.Contains(raw, "://") {
		if u, err := url.Parse(raw); err == nil {
			raw = u.Host
		}
	} else if i := strings.IndexByte(raw, '/'); i >= 0 {
		raw = raw[:i]
	}
	if h, _, err := net.SplitHostPort(raw); err == nil {
		raw = h
	}
	return strings.TrimSuffix(strings.ToLower(raw), ".")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
