package mesh

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) ProxyEnv { return ReadProxyEnv(func(k string) string { return m[k] }) }

// TestParseProxy: a value is read as Go and curl read it, printed only as
// scheme://user@host:port, and one that does not parse is refused in words
// that never repeat it.
func TestParseProxy(t *testing.T) {
	for _, tt := range []struct {
		raw, shown, password, err string
	}{
		{"http://proxy:3128", "http://proxy:3128", "", ""},
		{"proxy.trust.nhs.uk:8080", "http://proxy.trust.nhs.uk:8080", "", ""},
		{"http://proxy", "http://proxy:80", "", ""},
		{"https://proxy", "https://proxy:443", "", ""},
		{"http://alice:Ab%2FSecr3t@proxy:3128/", "http://alice@proxy:3128", "Ab/Secr3t", ""},
		{"http://alice:A@b:c@proxy:3128", "http://alice@proxy:3128", "A@b:c", ""},
		{"http://alice:Ab/Secr3t@proxy:3128", "", "", "percent-encode special characters in the proxy password"},
		{"http://alice:Ab#Secr3t@proxy:3128", "", "", "percent-encode"},
		{"http://alice:Ab?Secr3t@proxy:3128", "", "", "percent-encode"},
		{"http://alice:50%off@proxy:3128", "", "", "percent-encode"},
		{"socks5://proxy:1080", "", "", "SOCKS"},
		{"ftp://proxy:21", "", "", `scheme "ftp"`},
		{"http://proxy:99999", "", "", "port"},
		{"", "", "", "empty"},
	} {
		p, err := ParseProxy(tt.raw, "HTTPS_PROXY")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want one saying %q", tt.raw, err, tt.err)
			}
			if err != nil && tt.raw != "" && strings.Contains(err.Error(), tt.raw) {
				t.Errorf("%q: the error repeats the value: %v", tt.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if p.String() != tt.shown || p.password != tt.password {
			t.Errorf("%q: shown %q password %q, want %q %q", tt.raw, p.String(), p.password, tt.shown, tt.password)
		}
	}
}

// TestProxyRoute: the variables as Go and curl apply them to MESH's https.
func TestProxyRoute(t *testing.T) {
	const host = "msg.intspineservices.nhs.uk"
	for _, tt := range []struct {
		name    string
		s       ProxySettings
		host    string
		proxy   string // "" direct
		why     string
		note    string
		wantErr string
	}{
		{"no variables", ProxySettings{Env: envOf(nil)}, host, "", "no HTTPS_PROXY", "", ""},
		{"HTTPS_PROXY", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128"})}, host, "http://p:3128", "HTTPS_PROXY", "", ""},
		{"lower case", ProxySettings{Env: envOf(map[string]string{"https_proxy": "http://p:3128"})}, host, "http://p:3128", "https_proxy", "", ""},
		{"both, different", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"})}, host, "http://a:1", "HTTPS_PROXY", "curl reads https_proxy", ""},
		{"HTTP_PROXY alone", ProxySettings{Env: envOf(map[string]string{"HTTP_PROXY": "http://p:3128"})}, host, "", "no HTTPS_PROXY", "only for http:// URLs", ""},
		{"ALL_PROXY", ProxySettings{Env: envOf(map[string]string{"ALL_PROXY": "http://p:3128"})}, host, "", "no HTTPS_PROXY", "curl uses it", ""},
		{"NO_PROXY domain", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost,nhs.uk"})}, host, "", `"nhs.uk" matches`, "", ""},
		{"NO_PROXY dot domain", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "no_proxy": ".intspineservices.nhs.uk"})}, host, "", `no_proxy's entry ".intspineservices.nhs.uk"`, "", ""},
		{"NO_PROXY other port", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "nhs.uk:8443"})}, host, "http://p:3128", "HTTPS_PROXY", "", ""},
		{"NO_PROXY star", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"})}, host, "", `"*"`, "", ""},
		{"NO_PROXY CIDR", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/8"})}, "10.1.2.3", "", "10.0.0.0/8", "", ""},
		{"NO_PROXY suffix is not a substring", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "services.nhs.uk"})}, host, "http://p:3128", "HTTPS_PROXY", "", ""},
		{"loopback goes direct", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128"})}, "127.0.0.1", "", "loopback", "", ""},
		{"--proxy over the variables", ProxySettings{URL: "http://q:8080", Source: "--proxy", Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"})}, host, "http://q:8080", "--proxy", "", ""},
		{"--proxy with credentials apart", ProxySettings{URL: "http://q:8080", User: `TRUST\alice`, Password: "pw/#?", Env: envOf(nil)}, host, `http://TRUST\alice@q:8080`, "--proxy", "", ""},
		{"--no-proxy", ProxySettings{Direct: true, Env: envOf(map[string]string{"HTTPS_PROXY": "http://p:3128"})}, host, "", "--no-proxy", "", ""},
		{"unparseable", ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": "http://alice:Ab/Secr3t@p:3128"})}, host, "", "", "", "HTTPS_PROXY: cannot be read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.s.Route("https", tt.host, "443")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "Secr3t") {
					t.Fatalf("error %v, want %q without the password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Proxy.String() != tt.proxy || !strings.Contains(r.Why, tt.why) {
				t.Errorf("route %q (%s), want %q (%s)", r.Proxy.String(), r.Why, tt.proxy, tt.why)
			}
			if notes := strings.Join(r.Notes, "; "); tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("notes %q, want %q", notes, tt.note)
			}
			if strings.Contains(r.Describe(), "pw/#?") {
				t.Errorf("Describe shows the password: %s", r.Describe())
			}
		})
	}
}

// TestProxySecrets: whatever a proxy value looks like, its password is among
// the secrets a report hides.
func TestProxySecrets(t *testing.T) {
	for raw, pw := range map[string]string{
		"http://alice:Ab/Secr3t@proxy:3128":       "Ab/Secr3t",
		"http://alice:Ab#Se?cr@t@proxy:3128":      "Ab#Se?cr@t",
		"http://alice:Ab%2FSecr3t@proxy:3128":     "Ab/Secr3t",
		"alice:x:y:z@proxy:3128":                  "x:y:z",
		"http://alice:50%off-pw@proxy:3128":       "50%off-pw",
		"https://TRUST%5Calice:P%40ss:w0rd@p:443": "P@ss:w0rd",
	} {
		s := ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": raw})}
		got := strings.Join(s.Secrets(), "\n")
		if !strings.Contains(got, pw) || !strings.Contains(got, raw) {
			t.Errorf("%q: secrets %q miss %q or the value", raw, got, pw)
		}
	}
	for _, raw := range []string{"http://proxy:3128", "http://alice@proxy:3128"} {
		if got := (ProxySettings{Env: envOf(map[string]string{"HTTPS_PROXY": raw})}).Secrets(); len(got) != 0 {
			t.Errorf("%s: a proxy without a password has secrets: %q", raw, got)
		}
	}
}
