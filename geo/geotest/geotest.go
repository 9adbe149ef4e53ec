// Package geotest writes small GeoIP databases for tests, with
// github.com/maxmind/mmdbwriter: the shapes users really have (MaxMind and
// DB-IP country records, the flat country_code schema of ip-location-db, an
// ASN database) over networks the tests choose. Only tests import it.
package geotest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Addresses the default networks hold, for tests to look up.
const (
	GB        = "81.2.69.142"   // in 81.2.69.0/24, GB
	FR        = "90.0.1.3"      // in 90.0.0.0/16, FR
	US        = "8.8.8.8"       // in 8.8.8.0/24, US (anycast)
	Proxy     = "5.5.5.5"       // in 5.5.5.0/24, anonymous proxy registered in GB
	Satellite = "41.222.0.1"    // in 41.222.0.0/24, satellite provider
	GBv6      = "2a02:8010::1"  // in 2a02:8010::/32, GB
	Missing   = "198.51.100.99" // documentation range: in no database
)

// Net is one network and what the database says of it.
type Net struct {
	CIDR               string
	Country            string // ISO code; "" for none
	Registered         string
	AnonymousProxy     bool
	SatelliteProvider  bool
	Anycast            bool
	CountryNameEnglish string
}

// DefaultNets are the networks of the test databases.
func DefaultNets() []Net {
	return []Net{
		{CIDR: "81.2.69.0/24", Country: "GB", Registered: "GB", CountryNameEnglish: "United Kingdom"},
		{CIDR: "90.0.0.0/16", Country: "FR", Registered: "FR", CountryNameEnglish: "France"},
		{CIDR: "8.8.8.0/24", Country: "US", Registered: "US", Anycast: true, CountryNameEnglish: "United States"},
		{CIDR: "5.5.5.0/24", Registered: "GB", AnonymousProxy: true},
		{CIDR: "41.222.0.0/24", Country: "GB", Registered: "NG", SatelliteProvider: true, CountryNameEnglish: "United Kingdom"},
		{CIDR: "2a02:8010::/32", Country: "GB", Registered: "GB", CountryNameEnglish: "United Kingdom"},
	}
}

// Options shape a database.
type Options struct {
	// Type is the metadata database_type (default GeoLite2-Country).
	Type string
	// Built is the build date (default now).
	Built time.Time
	// Flat writes ip-location-db's {"country_code": "GB"} records.
	Flat bool
	// ASN writes autonomous-system records instead of countries.
	ASN bool
	// Nets default to DefaultNets.
	Nets []Net
	// IPv4Only writes an IPv4 database (ip_version 4), without the IPv6
	// networks, as ip-location-db's *-ipv4.mmdb files are.
	IPv4Only bool
}

// Write builds a database in dir/name and returns its path.
func Write(t testing.TB, dir, name string, o Options) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := WriteFile(path, o); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteFile builds a database at path.
func WriteFile(path string, o Options) error {
	if o.Type == "" {
		o.Type = "GeoLite2-Country"
	}
	if o.Built.IsZero() {
		o.Built = time.Now()
	}
	if o.Nets == nil {
		o.Nets = DefaultNets()
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: o.Type,
		BuildEpoch:   o.Built.Unix(),
		Description:  map[string]string{"en": "meshdoctor test database"},
		Languages:    []string{"en"},
		RecordSize:   24,
		IPVersion:    map[bool]int{true: 4, false: 6}[o.IPv4Only],
	})
	if err != nil {
		return err
	}
	for _, n := range o.Nets {
		_, network, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return err
		}
		if o.IPv4Only && network.IP.To4() == nil {
			continue
		}
		if err := tree.Insert(network, record(n, o)); err != nil {
			return fmt.Errorf("insert %s: %w", n.CIDR, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func record(n Net, o Options) mmdbtype.Map {
	switch {
	case o.ASN:
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64500),
			"autonomous_system_organization": mmdbtype.String("Example Networks"),
		}
	case o.Flat:
		return mmdbtype.Map{"country_code": mmdbtype.String(n.Country)}
	}
	country := func(code, name string) mmdbtype.Map {
		m := mmdbtype.Map{"iso_code": mmdbtype.String(code)}
		if name != "" {
			m["names"] = mmdbtype.Map{"en": mmdbtype.String(name)}
		}
		return m
	}
	rec := mmdbtype.Map{}
	if n.Country != "" {
		rec["country"] = country(n.Country, n.CountryNameEnglish)
	}
	if n.Registered != "" {
		rec["registered_country"] = country(n.Registered, "")
	}
	traits := mmdbtype.Map{}
	if n.AnonymousProxy {
		traits["is_anonymous_proxy"] = mmdbtype.Bool(true)
	}
	if n.SatelliteProvider {
		traits["is_satellite_provider"] = mmdbtype.Bool(true)
	}
	if n.Anycast {
		traits["is_anycast"] = mmdbtype.Bool(true)
	}
	if len(traits) > 0 {
		rec["traits"] = traits
	}
	return rec
}

// UserEnv is the environment of a user whose home folder is home, as far as
// the user cache directory goes: HOME on Unix and macOS, LocalAppData on
// Windows (geo.CacheDir reads the one of its platform). Tests that want the
// cache path ask geo.CacheDir rather than spelling it.
func UserEnv(home string) map[string]string {
	return map[string]string{"HOME": home, "LocalAppData": filepath.Join(home, "AppData", "Local")}
}
