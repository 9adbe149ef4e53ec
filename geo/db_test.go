package geo_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	dbs := map[string]string{
		"GeoLite2-Country":  geotest.Write(t, dir, "a.mmdb", geotest.Options{Type: "GeoLite2-Country"}),
		"GeoIP2-City":       geotest.Write(t, dir, "b.mmdb", geotest.Options{Type: "GeoIP2-City"}),
		"DBIP-Country-Lite": geotest.Write(t, dir, "c.mmdb", geotest.Options{Type: "DBIP-Country-Lite"}),
		// A type geoip2-golang does not know, with MaxMind's record shape.
		"Example-Country": geotest.Write(t, dir, "d.mmdb", geotest.Options{Type: "Example-Country"}),
	}
	tests := []struct {
		ip                  string
		found               bool
		country, registered string
		flags               string
	}{
		{geotest.GB, true, "GB", "GB", ""},
		{geotest.FR, true, "FR", "FR", ""},
		{geotest.US, true, "US", "US", "anycast"},
		{geotest.Proxy, true, "", "GB", "anonymous proxy"},
		{geotest.Satellite, true, "GB", "NG", "satellite provider"},
		{geotest.GBv6, true, "GB", "GB", ""},
		{"::ffff:" + geotest.GB, true, "GB", "GB", ""},
		{geotest.Missing, false, "", "", ""},
	}
	for typ, path := range dbs {
		db, err := geo.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := db.Info(); got.Type != typ || got.Schema != geo.SchemaGeoIP2 || got.Path != path {
			t.Errorf("%s: info %+v", typ, got)
		}
		for _, tt := range tests {
			loc, err := db.Lookup(netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatalf("%s %s: %v", typ, tt.ip, err)
			}
			if loc.Found != tt.found || loc.Country != tt.country || loc.Registered != tt.registered ||
				strings.Join(loc.Flags(), ",") != tt.flags {
				t.Errorf("%s %s: got %+v, want found=%v country=%q registered=%q flags=%q",
					typ, tt.ip, loc, tt.found, tt.country, tt.registered, tt.flags)
			}
			if tt.found && !loc.Network.Contains(loc.IP) {
				t.Errorf("%s %s: network %s does not hold the address", typ, tt.ip, loc.Network)
			}
		}
		if loc, _ := db.Lookup(netip.MustParseAddr(geotest.GB)); loc.CountryName != "United Kingdom" {
			t.Errorf("%s: country name %q", typ, loc.CountryName)
		}
		db.Close()
	}
}

func TestLookupFlatSchema(t *testing.T) {
	path := geotest.Write(t, t.TempDir(), "dbip-country-ipv4.mmdb", geotest.Options{Type: "ip-location-db", Flat: true})
	db, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Info().Schema != geo.SchemaFlat {
		t.Fatalf("schema %q, want %q", db.Info().Schema, geo.SchemaFlat)
	}
	for ip, want := range map[string]string{geotest.GB: "GB", geotest.FR: "FR", geotest.GBv6: "GB", geotest.Missing: ""} {
		loc, err := db.Lookup(netip.MustParseAddr(ip))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Country != want || loc.Found != (want != "") {
			t.Errorf("%s: got %+v, want %q", ip, loc, want)
		}
	}
}

func TestLookupIPv4OnlyFlat(t *testing.T) {
	// ip-location-db's files are split by family, and one of its country
	// databases has "asn" in its name.
	path := geotest.Write(t, t.TempDir(), "geo-whois-asn-country-ipv4.mmdb",
		geotest.Options{Type: "geo-whois-asn-country", Flat: true, IPv4Only: true})
	db, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if loc, err := db.Lookup(netip.MustParseAddr(geotest.GB)); err != nil || loc.Country != "GB" {
		t.Fatalf("%+v %v", loc, err)
	}
	_, err = db.Lookup(netip.MustParseAddr(geotest.GBv6))
	if err == nil || !strings.Contains(err.Error(), "holds IPv4 addresses only: it cannot place 2a02:8010::1") {
		t.Fatalf("IPv6 lookup in an IPv4 database: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	os.WriteFile(corrupt, []byte("this is not a MaxMind database\n"), 0o644)
	good := geotest.Write(t, dir, "good.mmdb", geotest.Options{})
	data, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.mmdb")
	os.WriteFile(truncated, data[:len(data)/3], 0o644)
	tests := []struct {
		name, path string
		is         any
		contains   string
	}{
		{"corrupt", corrupt, new(*geo.FormatError), "not a GeoIP database"},
		{"truncated", truncated, new(*geo.FormatError), "not a GeoIP database"},
		{"GeoLite2 ASN", geotest.Write(t, dir, "asn.mmdb", geotest.Options{Type: "GeoLite2-ASN", ASN: true}), new(*geo.NoCountryError), "GeoLite2-ASN database, which carries no country"},
		{"DB-IP ASN", geotest.Write(t, dir, "dbip-asn.mmdb", geotest.Options{Type: "DBIP-ASN-Lite (compat=GeoLite2-ASN)", ASN: true}), new(*geo.NoCountryError), "carries no country"},
		{"anonymous IP", geotest.Write(t, dir, "anon.mmdb", geotest.Options{Type: "GeoIP2-Anonymous-IP", ASN: true}), new(*geo.NoCountryError), "GeoIP2-Anonymous-IP"},
		{"unknown ASN-shaped", geotest.Write(t, dir, "x.mmdb", geotest.Options{Type: "something", ASN: true}), new(*geo.NoCountryError), "something database"},
		{"missing", filepath.Join(dir, "nope.mmdb"), new(*os.PathError), "nope.mmdb"},
		{"directory", dir, nil, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geo.Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if tt.is != nil && !errors.As(err, tt.is) {
				t.Errorf("error %T %v is not %T", err, err, tt.is)
			}
			if tt.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v is not fs.ErrNotExist", err)
			}
			if !strings.Contains(err.Error(), tt.contains) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q does not say %q in one line", err, tt.contains)
			}
		})
	}
}

func TestStale(t *testing.T) {
	built := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	path := geotest.Write(t, t.TempDir(), "old.mmdb", geotest.Options{Built: built})
	db, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info := db.Info()
	if !info.Built.Equal(built) {
		t.Fatalf("built %s, want %s", info.Built, built)
	}
	if info.Stale(built.Add(59 * 24 * time.Hour)) {
		t.Error("stale at 59 days")
	}
	if !info.Stale(built.Add(61 * 24 * time.Hour)) {
		t.Error("not stale at 61 days")
	}
	if !strings.Contains(info.String(), "2026-01-01") || !strings.Contains(info.String(), "GeoLite2-Country") {
		t.Errorf("info string %q", info)
	}
}
