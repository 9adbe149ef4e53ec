package mesh

import (
	"errors"
	"testing"
)

func TestParseEnvironment(t *testing.T) {
	for in, want := range map[string]Environment{
		"int": Integration, "Integration": Integration, " DEP ": Deployment, "dev": Development,
		"training": Training, "live": Live, "production": Live, "prod": Live,
	} {
		got, err := ParseEnvironment(in)
		if err != nil || got != want {
			t.Errorf("ParseEnvironment(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseEnvironment("opentest"); err == nil {
		t.Error("ParseEnvironment(opentest) succeeded")
	}
}

func TestLookupEndpoint(t *testing.T) {
	tests := []struct {
		env   Environment
		route Route
		host  string
		alts  int
	}{
		{Integration, Internet, "msg.intspineservices.nhs.uk", 0},
		{Integration, HSCN, "msg.int.spine2.ncrs.nhs.uk", 0},
		{Live, Internet, "mesh-sync.spineservices.nhs.uk", 0},
		{Live, HSCN, "mesh-sync.national.ncrs.nhs.uk", 0},
		{Deployment, Internet, "msg.depspineservices.nhs.uk", 0},
		{Development, Internet, "", 1},
		{Training, Internet, "", 1},
	}
	for _, tt := range tests {
		ep, err := LookupEndpoint(tt.env, tt.route)
		if tt.host != "" {
			if err != nil || ep.Host != tt.host {
				t.Errorf("%s/%s = %q, %v; want %q", tt.env, tt.route, ep.Host, err, tt.host)
			}
			continue
		}
		var ne *NoEndpointError
		if !errors.As(err, &ne) || len(ne.Alternatives) != tt.alts || ne.Alternatives[0].Route != HSCN {
			t.Errorf("%s/%s: err = %v, want a NoEndpointError offering hscn", tt.env, tt.route, err)
		}
	}
}

func TestEveryEnvironmentReachable(t *testing.T) {
	for _, env := range Environments() {
		found := false
		for _, ep := range Endpoints() {
			found = found || ep.Environment == env
		}
		if !found {
			t.Errorf("environment %s has no endpoint", env)
		}
		if _, ok := env.KeystorePassword(); ok == (env == Live) {
			t.Errorf("%s: keystore password present = %v", env, ok)
		}
	}
}

func TestEndpointForURL(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		name   string
		status Status
	}{
		{"https://msg.intspineservices.nhs.uk/messageexchange", true, "int/internet", Current},
		{"https://MSG.INTSPINESERVICES.NHS.UK:443", true, "int/internet", Current},
		{"msg.int.spine2.ncrs.nhs.uk/messageexchange", true, "int/hscn", Deprecated},
		{"mesh.spineservices.nhs.uk", true, "live/internet", Retired},
		{"https://127.0.0.1:8700", false, "", ""},
	}
	for _, tt := range tests {
		ep, ok := EndpointForURL(tt.in)
		if ok != tt.ok || ep.Name() != tt.name && tt.ok || ep.Status != tt.status {
			t.Errorf("EndpointForURL(%q) = %s %s, %v", tt.in, ep.Name(), ep.Status, ok)
		}
	}
}

func TestSuggestHost(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"msg.int.spine2.ncrs.nh.uk", "msg.int.spine2.ncrs.nhs.uk"}, // the path-to-live guide's own typo
		{"https://msg.int.spineservices.nhs.uk", "msg.intspineservices.nhs.uk"},
		{"mesh-sync.spineservice.nhs.uk", "mesh-sync.spineservices.nhs.uk"},
		{"msg.intspineservices.nhs.uk", ""}, // already right
		{"example.com", ""},
	}
	for _, tt := range tests {
		ep, ok := SuggestHost(tt.in)
		if ok != (tt.want != "") || ep.Host != tt.want {
			t.Errorf("SuggestHost(%q) = %q, %v; want %q", tt.in, ep.Host, ok, tt.want)
		}
	}
}
