package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
)

func oneLineError(t *testing.T, r result, code int, contains string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	first := strings.SplitN(strings.TrimSpace(r.stderr), "\n", 2)[0]
	if !strings.Contains(first, contains) {
		t.Fatalf("first line of stderr %q lacks %q", first, contains)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 || strings.Contains(r.stderr, "goroutine") {
		t.Fatalf("not one clear line: %s", r.stderr)
	}
}

func TestGeoLookup(t *testing.T) {
	dir := t.TempDir()
	db := geotest.Write(t, dir, "GeoLite2-Country.mmdb", geotest.Options{Built: time.Now().Add(-24 * time.Hour)})
	r := runCLI(t, nil, "geo", "lookup", "--geoip-db", db, geotest.GB, geotest.FR, geotest.Proxy, geotest.GBv6, "10.0.0.1", geotest.Missing, "1.1.1.1")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"81.2.69.142    UK (GB), network 81.2.69.0/24",
		"90.0.1.3       France (FR), not the UK, network 90.0.0.0/16",
		"5.5.5.5        no country, registered in GB, network 5.5.5.0/24, anonymous proxy",
		"2a02:8010::1   UK (GB), network 2a02:8010::/32",
		"10.0.0.1       a private address (RFC 1918 or IPv6 unique local): in no GeoIP database, and never the address MESH sees",
		"198.51.100.99  a reserved address",
		"1.1.1.1        not in the database",
		"Database: " + db + " (GeoLite2-Country, built ",
		"found by --geoip-db",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Stale") {
		t.Error("a fresh database called stale")
	}
}

func TestGeoLookupJSON(t *testing.T) {
	dir := t.TempDir()
	db := geotest.Write(t, dir, "old.mmdb", geotest.Options{Built: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)})
	r := runCLI(t, map[string]string{"MESHDOCTOR_GEOIP_DB": db}, "geo", "lookup", "--format", "json", geotest.GB, geotest.US)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Database struct {
			Path, Type, Built, Source, Schema string
			Stale                             bool
		}
		Addresses []struct {
			IP, Country, Network, Scope string
			Registered                  string `json:"registered_country"`
			Found                       bool
			Flags                       []string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	d := doc.Database
	if d.Path != db || d.Type != "GeoLite2-Country" || d.Built != "2025-01-02" || d.Source != "MESHDOCTOR_GEOIP_DB" || !d.Stale || d.Schema != "geoip2" {
		t.Errorf("database %+v", d)
	}
	if len(doc.Addresses) != 2 {
		t.Fatalf("addresses %+v", doc.Addresses)
	}
	gb, us := doc.Addresses[0], doc.Addresses[1]
	if gb.IP != geotest.GB || gb.Country != "GB" || gb.Registered != "GB" || gb.Network != "81.2.69.0/24" || !gb.Found || gb.Scope != "public" || len(gb.Flags) != 0 {
		t.Errorf("GB %+v", gb)
	}
	if us.Country != "US" || len(us.Flags) != 1 || us.Flags[0] != "anycast" {
		t.Errorf("US %+v", us)
	}
}

func TestGeoLookupBadInput(t *testing.T) {
	dir := t.TempDir()
	db := geotest.Write(t, dir, "GeoLite2-Country.mmdb", geotest.Options{})
	asn := geotest.Write(t, dir, "GeoLite2-ASN.mmdb", geotest.Options{Type: "GeoLite2-ASN", ASN: true})
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	os.WriteFile(corrupt, []byte("not a database at all"), 0o644)
	home := t.TempDir()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		contains string
	}{
		{"unparseable address", nil, []string{"--geoip-db", db, "81.2.69"}, `"81.2.69" is not an IP address`},
		{"a network", nil, []string{"--geoip-db", db, "81.2.69.0/24"}, "is a network, not an address"},
		{"no address", nil, []string{"--geoip-db", db}, "give one or more IP addresses"},
		{"bad format", nil, []string{"--geoip-db", db, "--format", "xml", geotest.GB}, "want text or json"},
		{"corrupt database", nil, []string{"--geoip-db", corrupt, geotest.GB}, "is not a GeoIP database (.mmdb) or is corrupt"},
		{"ASN database", nil, []string{"--geoip-db", asn, geotest.GB}, "GeoLite2-ASN database, which carries no country"},
		{"missing file", nil, []string{"--geoip-db", filepath.Join(dir, "nope.mmdb"), geotest.GB}, "nope.mmdb"},
		{"missing env file", map[string]string{"MESHDOCTOR_GEOIP_DB": filepath.Join(dir, "typo.mmdb")}, []string{geotest.GB}, "MESHDOCTOR_GEOIP_DB"},
		{"no database anywhere", geotest.UserEnv(home), []string{geotest.GB}, "run 'meshdoctor geo update'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "no database anywhere" {
				for _, d := range geo.SystemDirs() {
					if m, _ := filepath.Glob(filepath.Join(d, "*.mmdb")); len(m) > 0 {
						t.Skipf("this machine has a GeoIP database in %s", d)
					}
				}
			}
			r := runCLI(t, tt.env, append([]string{"geo", "lookup"}, tt.args...)...)
			oneLineError(t, r, exitUsage, tt.contains)
			if r.stdout != "" {
				t.Errorf("stdout not empty: %s", r.stdout)
			}
		})
	}
}

func TestGeoUpdate(t *testing.T) {
	src := t.TempDir()
	good, _ := os.ReadFile(geotest.Write(t, src, "good.mmdb", geotest.Options{Type: "DBIP-Country-Lite"}))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	month := time.Now().UTC().Format("2006-01")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/free/dbip-country-lite-" + month + ".mmdb.gz":
			w.Write(gz.Bytes())
		case "/garbage.mmdb":
			w.Write([]byte("<html>proxy login</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-server case makes the server log
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	home := t.TempDir()
	env := geotest.UserEnv(home)
	env[geo.EnvUpdateURL] = srv.URL + "/free/dbip-country-lite-{month}.mmdb.gz"

	r := runCLI(t, env, "geo", "update", "--ca-bundle", ca)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	cache, err := geo.CacheDir(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(cache, geo.CacheFile)
	for _, want := range []string{"Installed " + installed, "DBIP-Country-Lite", "IP Geolocation by DB-IP", "CC BY 4.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q: %s", want, r.stdout)
		}
	}
	if strings.Contains(r.stderr, "\r") {
		t.Error("a progress bar on a stream that is not a terminal")
	}
	// The cache is where lookup (and the check) find it.
	r = runCLI(t, geotest.UserEnv(home), "geo", "lookup", geotest.GB)
	if r.code != exitOK || !strings.Contains(r.stdout, "UK (GB)") || !strings.Contains(r.stdout, "found by meshdoctor cache") {
		t.Fatalf("lookup after update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	t.Run("untrusted server", func(t *testing.T) {
		r := runCLI(t, geotest.UserEnv(t.TempDir()), "geo", "update", "--url", srv.URL+"/free/dbip-country-lite-{month}.mmdb.gz")
		oneLineError(t, r, exitCannotRun, "certificate")
	})
	t.Run("not found", func(t *testing.T) {
		r := runCLI(t, geotest.UserEnv(t.TempDir()), "geo", "update", "--ca-bundle", ca, "--url", srv.URL+"/none.mmdb.gz")
		oneLineError(t, r, exitCannotRun, "HTTP 404")
	})
	t.Run("not a database", func(t *testing.T) {
		dir := t.TempDir()
		r := runCLI(t, nil, "geo", "update", "--ca-bundle", ca, "--dir", dir, "--url", srv.URL+"/garbage.mmdb")
		oneLineError(t, r, exitCannotRun, "unusable")
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left %v behind", entries)
		}
	})
	t.Run("plain http", func(t *testing.T) {
		r := runCLI(t, geotest.UserEnv(t.TempDir()), "geo", "update", "--url", "http://mirror.example/db.mmdb")
		oneLineError(t, r, exitUsage, "must be an https:// URL")
	})
	t.Run("no cache directory", func(t *testing.T) {
		r := runCLI(t, nil, "geo", "update", "--url", srv.URL+"/x.mmdb")
		oneLineError(t, r, exitUsage, "pass --dir")
	})
}

func TestApplyGeoFlags(t *testing.T) {
	tests := []struct {
		name     string
		flags    geoCheckFlags
		env      map[string]string
		sourceIP string
		source   string
		err      string
	}{
		{"flag", geoCheckFlags{db: "/x.mmdb", sourceIP: "81.2.69.142"}, nil, "81.2.69.142", "--source-ip", ""},
		{"env", geoCheckFlags{}, map[string]string{"MESHDOCTOR_SOURCE_IP": "2a02:8010::1"}, "2a02:8010::1", "MESHDOCTOR_SOURCE_IP", ""},
		{"flag over env", geoCheckFlags{sourceIP: "81.2.69.142"}, map[string]string{"MESHDOCTOR_SOURCE_IP": "90.0.1.3"}, "81.2.69.142", "--source-ip", ""},
		{"none", geoCheckFlags{}, nil, "", "", ""},
		{"unparseable", geoCheckFlags{sourceIP: "my.gateway"}, nil, "", "", `--source-ip: "my.gateway" is not an IP address`},
		{"services flag", geoCheckFlags{myIP: "https://ip.example.nhs.uk"}, map[string]string{geo.EnvServices: "https://other.example"}, "", "", ""},
		{"services none", geoCheckFlags{myIP: "none"}, nil, "", "", ""},
		{"plain-http service flag", geoCheckFlags{myIP: "http://ip.example"}, nil, "", "", `"http://ip.example" is not an https:// URL`},
		{"plain-http service env", geoCheckFlags{}, map[string]string{geo.EnvServices: "http://ip.example"}, "", "", "not an https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{getenv: func(k string) string { return tt.env[k] }}
			var opts checks.Options
			err := a.applyGeoFlags(tt.flags, &opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || exitCode(err) != exitUsage {
					t.Fatalf("error %v, want usage error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.SourceIP != tt.sourceIP || opts.Sources["source_ip"] != tt.source || opts.GeoIPDB != tt.flags.db || opts.Getenv == nil {
				t.Errorf("options %+v", opts)
			}
			if want := first(tt.flags.myIP, tt.env[geo.EnvServices]); opts.Getenv(geo.EnvServices) != want {
				t.Errorf("the check would read %s=%q, want %q", geo.EnvServices, opts.Getenv(geo.EnvServices), want)
			}
		})
	}
}

// TestCheckGeoSourceIPOffline is the promise: 'meshdoctor check
// --only geo.source-ip --source-ip IP' judges the address with no network.
func TestCheckGeoSourceIPOffline(t *testing.T) {
	db := geotest.Write(t, t.TempDir(), "GeoLite2-Country.mmdb", geotest.Options{})
	env := map[string]string{"MESHDOCTOR_GEOIP_DB": db}
	tests := []struct {
		ip, status string
		code       int
	}{
		{geotest.GB, "pass", exitOK},
		{geotest.GBv6, "pass", exitOK},
		{geotest.FR, "fail", exitFailed},
		{geotest.Proxy, "warn", exitOK},
		{"192.168.1.10", "error", exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			r := runCLI(t, env, "check", "--env", "int", "--only", "geo.source-ip", "--source-ip", tt.ip, "--format", "json")
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
			}
			var doc struct {
				Checks []struct {
					ID, Status, Summary string
					Evidence            map[string]string
				}
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			if len(doc.Checks) != 1 || doc.Checks[0].ID != "geo.source-ip" || doc.Checks[0].Status != tt.status {
				t.Fatalf("checks %+v", doc.Checks)
			}
			if tt.status != "error" && doc.Checks[0].Evidence["database"] != db {
				t.Errorf("evidence %v", doc.Checks[0].Evidence)
			}
		})
	}
}

func TestGeoLookupIPv4OnlyDatabase(t *testing.T) {
	db := geotest.Write(t, t.TempDir(), "dbip-country-ipv4.mmdb", geotest.Options{Type: "ip-location-db", Flat: true, IPv4Only: true})
	r := runCLI(t, nil, "geo", "lookup", "--geoip-db", db, geotest.GB, geotest.GBv6)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"81.2.69.142   UK (GB)", "2a02:8010::1  cannot tell: " + db + " holds IPv4 addresses only"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var b strings.Builder
	bar := progressBar(&b)
	bar(512<<10, 1<<20)
	bar(1<<20, 1<<20)
	if !strings.Contains(b.String(), "\r  [###############...............] 512.0 KiB of 1.0 MiB") ||
		!strings.Contains(b.String(), "[##############################] 1.0 MiB of 1.0 MiB") {
		t.Fatalf("bar %q", b.String())
	}
}
