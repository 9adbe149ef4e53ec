package checks

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
	"github.com/meshdoctor/meshdoctor/mesh"
)

var geoNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// geoDBs writes the test databases once per test.
type geoDBs struct{ dir, country, city, flat, old, asn, corrupt string }

func writeGeoDBs(t *testing.T) geoDBs {
	dir := t.TempDir()
	recent := geoNow.Add(-10 * 24 * time.Hour)
	d := geoDBs{
		dir:     dir,
		country: geotest.Write(t, dir, "GeoLite2-Country.mmdb", geotest.Options{Built: recent}),
		city:    geotest.Write(t, dir, "GeoIP2-City.mmdb", geotest.Options{Type: "GeoIP2-City", Built: recent}),
		flat:    geotest.Write(t, dir, "dbip-country-ipv4.mmdb", geotest.Options{Type: "ip-location-db", Flat: true, Built: recent}),
		old:     geotest.Write(t, dir, "old.mmdb", geotest.Options{Built: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)}),
		asn:     geotest.Write(t, dir, "GeoLite2-ASN.mmdb", geotest.Options{Type: "GeoLite2-ASN", ASN: true, Built: recent}),
		corrupt: filepath.Join(dir, "corrupt.mmdb"),
	}
	os.WriteFile(d.corrupt, []byte("PK\x03\x04 this is a zip, not a database"), 0o644)
	return d
}

// offlineEnv finds only the database given and has no way to reach
// anything beyond the machine.
func offlineEnv(t *testing.T, db string) sourceIPEnv {
	return sourceIPEnv{
		search: geo.Search{Flag: db, Getenv: func(string) string { return "" }, CacheDir: filepath.Join(t.TempDir(), "cache"), SystemDirs: []string{}},
		local: func(ctx context.Context, host string) ([]netip.Addr, error) {
			// The real thing, but resolving through a local server that
			// knows no name: nothing leaves the machine.
			return geo.LocalSource(ctx, geotest.Resolver(geotest.DNSServer(t, "", "")), host, 443)
		},
	}
}

var intTarget = mesh.Target{Environment: mesh.Integration}

func judge(t *testing.T, target mesh.Target, opts Options, env sourceIPEnv) Verdict {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return geoNow }
	}
	f := NewFacts(target, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := judgeSourceIP(ctx, f, env)
	if strings.Contains(v.Summary, "\n") {
		t.Errorf("summary has several lines: %q", v.Summary)
	}
	return v
}

type want struct {
	status   Status
	summary  []string
	evidence map[string]string
	fix      string
}

func (w want) check(t *testing.T, v Verdict) {
	t.Helper()
	if v.Status != w.status {
		t.Fatalf("status %s, want %s: %s (evidence %v)", v.Status, w.status, v.Summary, v.Evidence)
	}
	for _, s := range w.summary {
		if !strings.Contains(v.Summary, s) {
			t.Errorf("summary %q lacks %q", v.Summary, s)
		}
	}
	for k, s := range w.evidence {
		if got, ok := v.Evidence.Get(k); !ok || !strings.Contains(got, s) {
			t.Errorf("evidence %s = %q, want %q (all: %v)", k, got, s, v.Evidence)
		}
	}
	if !strings.Contains(v.Remediation, w.fix) {
		t.Errorf("remediation %q lacks %q", v.Remediation, w.fix)
	}
}

func TestGeoSourceIPGiven(t *testing.T) {
	d := writeGeoDBs(t)
	tests := []struct {
		name     string
		target   mesh.Target
		sourceIP string
		db       string
		want     want
	}{
		{"UK address", intTarget, geotest.GB, d.country, want{Pass, []string{"81.2.69.142 geolocates to the UK (GB)"},
			map[string]string{"address": "81.2.69.142", "found by": "--source-ip", "country": "United Kingdom (GB)",
				"registered country": "GB", "network": "81.2.69.0/24", "database": d.country, "database type": "GeoLite2-Country",
				"database built": "2026-11-10", "database source": "--geoip-db"}, ""}},
		{"UK IPv6 address", intTarget, geotest.GBv6, d.country, want{Pass, []string{"2a02:8010::1", "GB"}, map[string]string{"network": "2a02:8010::/32"}, ""}},
		{"city database", intTarget, geotest.GB, d.city, want{Pass, []string{"GB"}, map[string]string{"database type": "GeoIP2-City"}, ""}},
		{"flat country_code database", intTarget, geotest.GB, d.flat, want{Pass, []string{"GB"}, map[string]string{"country": "GB"}, ""}},
		{"French address", intTarget, geotest.FR, d.country, want{Fail, []string{"90.0.1.3 geolocates to France (FR)", "not the UK"},
			map[string]string{"country": "France (FR)"}, "UK"}},
		{"French address, flat database", intTarget, geotest.FR, d.flat, want{Fail, []string{"90.0.1.3", "FR"}, nil, "HSCN"}},
		{"anycast US address", intTarget, geotest.US, d.country, want{Fail, []string{"United States (US)"}, map[string]string{"flags": "anycast"}, "UK"}},
		{"anonymous proxy", intTarget, geotest.Proxy, d.country, want{Warn, []string{"5.5.5.5", "anonymous proxy"},
			map[string]string{"flags": "anonymous proxy", "registered country": "GB"}, "--source-ip"}},
		{"satellite provider in GB", intTarget, geotest.Satellite, d.country, want{Warn, []string{"satellite provider"}, map[string]string{"registered country": "NG"}, ""}},
		{"stale database", intTarget, geotest.GB, d.old, want{Warn, []string{"stale", "2026-08-01"}, map[string]string{"database built": "2026-08-01", "database stale": "more than 60 days"}, "geo update"}},
		{"stale database, French address", intTarget, geotest.FR, d.old, want{Fail, []string{"France"}, map[string]string{"database stale": "2026-08-01"}, "UK"}},
		{"address not in the database", intTarget, "1.1.1.1", d.country, want{Error, []string{"1.1.1.1 is not in the GeoIP database"}, nil, "geo update"}},
		{"private address", intTarget, "10.1.2.3", d.country, want{Error, []string{"10.1.2.3 is a private address", "this is not the address MESH sees"}, map[string]string{"scope": "private"}, "gateway"}},
		{"CGNAT address", intTarget, "100.64.7.7", d.country, want{Error, []string{"carrier-grade NAT", "not the address MESH sees"}, nil, ""}},
		{"loopback address", intTarget, "127.0.0.1", d.country, want{Error, []string{"loopback", "not the address MESH sees"}, nil, ""}},
		{"unparseable address", intTarget, "81.2.69", d.country, want{Error, []string{"--source-ip", `"81.2.69" is not an IP address`}, nil, "--source-ip 81.2.69.142"}},
		{"ASN database", intTarget, geotest.GB, d.asn, want{Error, []string{"GeoLite2-ASN database, which carries no country"}, nil, "--geoip-db"}},
		{"corrupt database", intTarget, geotest.GB, d.corrupt, want{Error, []string{"not a GeoIP database (.mmdb) or is corrupt"}, nil, "geo update"}},
		{"HSCN route", mesh.Target{Environment: mesh.Integration, Route: mesh.HSCN}, geotest.FR, d.country, want{Skip, []string{"over HSCN"}, nil, ""}},
		{"HSCN host by URL", mesh.Target{URL: "https://msg.int.spine2.ncrs.nhs.uk"}, geotest.FR, d.country, want{Skip, []string{"HSCN"}, nil, ""}},
		{"internet host by URL", mesh.Target{URL: "https://mesh-sync.spineservices.nhs.uk"}, geotest.FR, d.country, want{Fail, []string{"FR"}, nil, "UK"}},
		{"sandbox by URL: the rule is judged", mesh.Target{URL: "https://mesh.test.example:8700"}, geotest.FR, d.country, want{Fail, []string{"FR"}, map[string]string{"note": "not an NHS MESH host"}, "UK"}},
		{"sandbox on loopback with an address", mesh.Target{URL: "https://127.0.0.1:8700"}, geotest.GB, d.country, want{Pass, []string{"GB"}, nil, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(t, tt.target, Options{SourceIP: tt.sourceIP}, offlineEnv(t, tt.db))
			tt.want.check(t, v)
		})
	}
}

func TestGeoSourceIPNoDatabase(t *testing.T) {
	// Nothing anywhere: a skip that says how to get one, never a pass, and
	// for every address, UK or not.
	for _, ip := range []string{geotest.GB, geotest.FR} {
		env := offlineEnv(t, "")
		v := judge(t, intTarget, Options{SourceIP: ip}, env)
		want{Skip, []string{"no GeoIP country database", "run 'meshdoctor geo update'"}, map[string]string{"looked in": env.search.CacheDir}, "meshdoctor geo update"}.check(t, v)
	}
}

func TestGeoSourceIPDiscovered(t *testing.T) {
	d := writeGeoDBs(t)
	gb, tlsGB := geotest.EchoService(t, geotest.GB)
	fr, tlsFR := geotest.EchoService(t, geotest.FR)
	self, tlsSelf := geotest.EchoService(t, "")
	agreeGB := geotest.DNSServer(t, geotest.GB, geotest.GB)
	sayFR := geotest.DNSServer(t, geotest.FR, geotest.FR)
	nxdomain := geotest.DNSServer(t, "", "")
	sandbox := mesh.Target{URL: "https://mesh-test.example.org"} // a test host, not NHS's
	onThisMachine := mesh.Target{URL: "https://127.0.0.1:8700"}

	tests := []struct {
		name   string
		target mesh.Target
		disc   geo.Discoverer
		want   want
		proxy  string
	}{
		{"HTTPS service says GB", sandbox, geo.Discoverer{Services: []string{gb}, TLS: tlsGB}, want{Pass, []string{"81.2.69.142 geolocates to the UK"},
			map[string]string{"found by": gb, "database type": "GeoLite2-Country"}, ""}, ""},
		{"HTTPS service says FR", sandbox, geo.Discoverer{Services: []string{fr}, TLS: tlsFR}, want{Fail, []string{"90.0.1.3 geolocates to France"}, map[string]string{"found by": fr}, "HSCN"}, ""},
		{"DNS methods only", sandbox, geo.Discoverer{DNS: geotest.DNSMethods(agreeGB)}, want{Pass, []string{"GB"}, map[string]string{"found by": "DNS OpenDNS (IPv4)"}, ""}, ""},
		{"methods disagree", sandbox, geo.Discoverer{Services: []string{gb}, TLS: tlsGB, DNS: geotest.DNSMethods(sayFR)}, want{Warn, []string{"disagree"},
			map[string]string{"answers": "DNS Google (IPv4) = 90.0.1.3", "found by": gb}, ""}, ""},
		{"methods disagree behind a proxy", intTarget, geo.Discoverer{Services: []string{gb}, TLS: tlsGB, DNS: geotest.DNSMethods(sayFR)}, want{Warn, []string{"disagree", "through a proxy", "DNS goes direct"},
			map[string]string{"proxy": "proxy.example:3128", "address": geotest.GB}, ""}, "http://user:secret-proxy-pw@proxy.example:3128"},
		{"service sees a loopback address", sandbox, geo.Discoverer{Services: []string{self}, TLS: tlsSelf}, want{Error, []string{"127.0.0.1", "loopback", "not the address MESH sees"}, nil, "--source-ip"}, ""},
		{"sandbox on loopback: nothing looked up", onThisMachine, geo.Discoverer{Services: []string{fr}, TLS: tlsFR}, want{Skip, []string{"127.0.0.1 is on this machine", "no address was looked up"}, nil, "--source-ip"}, ""},
		{"offline, NHS host", intTarget, geo.Discoverer{DNS: geotest.DNSMethods(nxdomain)}, want{Error, []string{"no egress address found"}, map[string]string{"why": "DNS OpenDNS (IPv4)"}, "--source-ip"}, ""},
		{"nothing configured, NHS host", intTarget, geo.Discoverer{}, want{Error, []string{"no egress address found"}, map[string]string{"why": "no method"}, "HTTPS_PROXY"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := offlineEnv(t, d.country)
			env.discover = tt.disc
			env.discover.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
			var opts Options
			target := tt.target
			target.Proxy = mesh.ProxySettings{URL: tt.proxy, Direct: tt.proxy == ""}
			v := judge(t, target, opts, env)
			tt.want.check(t, v)
			for _, e := range v.Evidence {
				if strings.Contains(e.Value, "secret-proxy-pw") {
					t.Errorf("evidence %s shows the proxy password", e.Key)
				}
			}
		})
	}
}

// TestGeoSourceIPRunOffline runs the catalogue's check as 'meshdoctor check
// --only geo.source-ip --source-ip IP' does: nothing may touch the network.
func TestGeoSourceIPRunOffline(t *testing.T) {
	d := writeGeoDBs(t)
	noNet := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("the check resolved a name with --source-ip given")
		return nil, &net.OpError{Op: "dial", Err: os.ErrPermission}
	}}
	cs, err := Select([]string{"geo.source-ip"}, nil)
	if err != nil || len(cs) != 1 {
		t.Fatalf("select: %v %v", cs, err)
	}
	env := map[string]string{"MESHDOCTOR_GEOIP_DB": d.country, "HOME": t.TempDir()}
	for ip, status := range map[string]Status{geotest.GB: Pass, geotest.FR: Fail, "not-an-ip": Error} {
		res := Run(context.Background(), intTarget, cs, Options{
			SourceIP: ip, Resolver: noNet, Now: func() time.Time { return geoNow },
			Getenv: func(k string) string { return env[k] },
		}, nil)
		if res[0].Status != status {
			t.Errorf("%s: %s, want %s: %s", ip, res[0].Status, status, res[0].Summary)
		}
		if src, _ := res[0].Evidence.Get("database source"); status != Error && src != "MESHDOCTOR_GEOIP_DB" {
			t.Errorf("%s: database source %q", ip, src)
		}
	}
}

func TestGeoSourceIPServicesEnv(t *testing.T) {
	d := writeGeoDBs(t)
	res := Run(context.Background(), intTarget, []Check{geoSourceIP}, Options{
		Getenv: func(k string) string {
			return map[string]string{"MESHDOCTOR_GEOIP_DB": d.country, geo.EnvServices: "http://plain.example/"}[k]
		},
	}, nil)
	if res[0].Status != Error || !strings.Contains(res[0].Summary, "not an https:// URL") {
		t.Fatalf("%s: %s", res[0].Status, res[0].Summary)
	}
}

func TestGeoSourceIPNAT(t *testing.T) {
	d := writeGeoDBs(t)
	gb, tlsGB := geotest.EchoService(t, geotest.GB)
	// A DNS server whose TXT answer is an IPv6 address in France: the
	// IPv6 egress, judged only when MESH is reached over IPv6.
	v6FR := geotest.DNSServer(t, geotest.GB, "2001:660::1")
	mustAddrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name  string
		local []netip.Addr
		proxy bool
		nets  []geotest.Net
		want  want
		not   string
	}{
		{"behind NAT", mustAddrs("192.168.1.10"), false, nil, want{Pass, []string{"81.2.69.142 geolocates to the UK"},
			map[string]string{"NAT": "behind NAT: this machine's address toward MESH is 192.168.1.10 (private); MESH sees the gateway's address 81.2.69.142"}, ""}, ""},
		{"no NAT", mustAddrs(geotest.GB), false, nil, want{Pass, nil, map[string]string{"NAT": "none: this machine's own address 81.2.69.142"}, ""}, ""},
		{"through a proxy, NAT says nothing", mustAddrs("192.168.1.10"), true, nil, want{Pass, nil, map[string]string{"proxy": "proxy.example:3128"}, ""}, "NAT"},
		{"IPv6 egress in France, MESH over IPv4 only", mustAddrs("192.168.1.10"), false, ipv6FR(), want{Pass, []string{"81.2.69.142"}, nil, ""}, "address 2"},
		{"IPv6 egress in France, MESH over both", mustAddrs("192.168.1.10", "2a02:8010::99"), false, ipv6FR(), want{Fail, []string{"2001:660::1 geolocates to France"},
			map[string]string{"address 2": "2001:660::1", "found by 2": "DNS Google (IPv4)"}, "UK"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := d.country
			if tt.nets != nil {
				db = geotest.Write(t, t.TempDir(), "v6.mmdb", geotest.Options{Built: geoNow, Nets: tt.nets})
			}
			env := offlineEnv(t, db)
			env.discover = geo.Discoverer{Services: []string{gb}, TLS: tlsGB, DNS: geotest.DNSMethods(v6FR)[1:],
				Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
			env.local = func(context.Context, string) ([]netip.Addr, error) { return tt.local, nil }
			var opts Options
			target := intTarget
			target.Proxy = mesh.ProxySettings{URL: "http://proxy.example:3128", Direct: !tt.proxy}
			v := judge(t, target, opts, env)
			tt.want.check(t, v)
			if _, ok := v.Evidence.Get(tt.not); tt.not != "" && ok {
				t.Errorf("evidence has %s: %v", tt.not, v.Evidence)
			}
		})
	}
}

func ipv6FR() []geotest.Net {
	return append(geotest.DefaultNets(), geotest.Net{CIDR: "2001:660::/32", Country: "FR", Registered: "FR", CountryNameEnglish: "France"})
}
