package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// StaleAfter is the age past which a database is stale: address blocks move
// between countries, and the free databases are rebuilt monthly.
const StaleAfter = 60 * 24 * time.Hour

// Schemas a country database can have.
const (
	// SchemaGeoIP2 is MaxMind's nested record (country.iso_code,
	// registered_country, traits), also written by DB-IP.
	SchemaGeoIP2 = "geoip2"
	// SchemaFlat is ip-location-db's {"country_code": "GB"}.
	SchemaFlat = "country_code"
)

// Info describes a database file.
type Info struct {
	Path string `json:"path"`
	// Type is the database_type of its metadata ("GeoLite2-Country").
	Type   string    `json:"type"`
	Schema string    `json:"schema"`
	Built  time.Time `json:"built"`
}

// Stale reports whether the database is older than StaleAfter at now.
func (i Info) Stale(now time.Time) bool { return now.Sub(i.Built) > StaleAfter }

// String names the file, its type and build date, for evidence.
func (i Info) String() string {
	return fmt.Sprintf("%s (%s, built %s)", i.Path, i.Type, i.Built.UTC().Format(time.DateOnly))
}

// FormatError is a file that is not a readable MaxMind DB.
type FormatError struct {
	Path string
	Err  error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s is not a GeoIP database (.mmdb) or is corrupt: %v", e.Path, e.Err)
}
func (e *FormatError) Unwrap() error { return e.Err }

// NoCountryError is a database that carries no country (ASN, anonymous-IP,
// ISP): it cannot tell where an address is.
type NoCountryError struct {
	Path string
	Type string
}

func (e *NoCountryError) Error() string {
	return fmt.Sprintf("%s is a %s database, which carries no country: use a country or city database "+
		"(DB-IP Country Lite from 'meshdoctor geo update', or MaxMind GeoLite2-Country)", e.Path, e.Type)
}

// Location is what a database says of one address.
type Location struct {
	IP    netip.Addr `json:"ip"`
	Found bool       `json:"found"`
	// Network is the block the answer holds for.
	Network netip.Prefix `json:"network,omitzero"`
	// Country is the ISO 3166-1 code of where the address is used;
	// Registered, where its block is registered; Represented, the country a
	// military base or embassy represents.
	Country     string `json:"country,omitempty"`
	CountryName string `json:"country_name,omitempty"`
	Registered  string `json:"registered_country,omitempty"`
	Represented string `json:"represented_country,omitempty"`
	// Flags MaxMind sets on networks whose location means little.
	AnonymousProxy    bool `json:"anonymous_proxy,omitempty"`
	SatelliteProvider bool `json:"satellite_provider,omitempty"`
	Anycast           bool `json:"anycast,omitempty"`
}

// Flags names the flags set, for a person.
func (l Location) Flags() []string {
	var out []string
	if l.AnonymousProxy {
		out = append(out, "anonymous proxy")
	}
	if l.SatelliteProvider {
		out = append(out, "satellite provider")
	}
	if l.Anycast {
		out = append(out, "anycast")
	}
	return out
}

// DB is an open country database. It is safe for concurrent lookups.
type DB struct {
	info Info
	mm   *maxminddb.Reader
	// g reads the database types geoip2-golang knows; nil for the others.
	g *geoip2.Reader
}

// noCountryTypes are database types known to carry no country.
var noCountryTypes = []string{"asn", "anonymous", "isp", "connection-type", "domain"}

// placeWords in a type name say it holds places.
var placeWords = []string{"country", "city", "location", "enterprise"}

// Open opens a country database. A file that is not a MaxMind DB is a
// *FormatError; one that carries no country is a *NoCountryError.
func Open(path string) (*DB, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open GeoIP database: %w", err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("open GeoIP database: %s is a directory, not a .mmdb file", path)
	}
	mm, err := maxminddb.Open(path)
	if err != nil {
		return nil, &FormatError{Path: path, Err: err}
	}
	db := &DB{mm: mm, info: Info{Path: path, Type: mm.Metadata.DatabaseType, Built: mm.Metadata.BuildTime().UTC()}}
	if err := db.classify(); err != nil {
		mm.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) classify() error {
	path, typ := db.info.Path, db.info.Type
	lower := strings.ToLower(typ)
	// Names such as "geo-whois-asn-country" (ip-location-db) hold countries
	// although they say ASN: only a name that speaks of no place is refused
	// by name; the records of the others are looked at.
	place := slices.ContainsFunc(placeWords, func(s string) bool { return strings.Contains(lower, s) })
	if !place && slices.ContainsFunc(noCountryTypes, func(s string) bool { return strings.Contains(lower, s) }) {
		return &NoCountryError{Path: path, Type: typ}
	}
	g, err := geoip2.Open(path)
	var unknown geoip2.UnknownDatabaseTypeError
	switch {
	case err == nil:
		db.g, db.info.Schema = g, SchemaGeoIP2
		return nil
	case errors.As(err, &unknown):
		if g != nil {
			g.Close()
		}
	default:
		return &FormatError{Path: path, Err: err}
	}
	// A type geoip2-golang does not know: judge by what the records hold.
	schema, err := db.probe()
	if err != nil {
		return err
	}
	if schema == "" {
		if typ == "" {
			typ = "untyped"
		}
		return &NoCountryError{Path: path, Type: typ}
	}
	db.info.Schema = schema
	return nil
}

// probe reads the first records to find the schema; "" when none of them
// carries a country.
func (db *DB) probe() (string, error) {
	n := 0
	for res := range db.mm.Networks() {
		if err := res.Err(); err != nil {
			return "", &FormatError{Path: db.info.Path, Err: err}
		}
		var rec map[string]any
		if err := res.Decode(&rec); err != nil {
			return "", &FormatError{Path: db.info.Path, Err: err}
		}
		if _, ok := rec["country_code"].(string); ok {
			return SchemaFlat, nil
		}
		if c, ok := rec["country"].(map[string]any); ok {
			if _, ok := c["iso_code"]; ok {
				return SchemaGeoIP2, nil
			}
		}
		if n++; n >= 16 {
			break
		}
	}
	return "", nil
}

// Info describes the database.
func (db *DB) Info() Info { return db.info }

// Close releases the database.
func (db *DB) Close() error {
	if db.g != nil {
		db.g.Close()
	}
	return db.mm.Close()
}

// traits are the network flags. geoip2-golang v2 no longer decodes
// is_anonymous_proxy and is_satellite_provider (deprecated by MaxMind, yet
// still in the data), so they are read here.
type traits struct {
	AnonymousProxy    bool `maxminddb:"is_anonymous_proxy"`
	SatelliteProvider bool `maxminddb:"is_satellite_provider"`
	Anycast           bool `maxminddb:"is_anycast"`
}

// nested is MaxMind's record, for types geoip2-golang does not know.
type nested struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Represented struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"represented_country"`
	Traits traits `maxminddb:"traits"`
}

// Lookup says where ip is. An address the database does not hold has Found
// false.
func (db *DB) Lookup(ip netip.Addr) (Location, error) {
	ip = ip.Unmap()
	loc := Location{IP: ip}
	if ip.Is6() && db.mm.Metadata.IPVersion == 4 {
		// ip-location-db publishes IPv4 and IPv6 in separate files.
		return loc, fmt.Errorf("%s holds IPv4 addresses only: it cannot place %s (use a database that holds IPv6 too)", db.info.Path, ip)
	}
	res := db.mm.Lookup(ip)
	if err := res.Err(); err != nil {
		return loc, fmt.Errorf("look up %s in %s: %w", ip, db.info.Path, err)
	}
	if !res.Found() {
		return loc, nil
	}
	loc.Found, loc.Network = true, res.Prefix()
	if db.info.Schema == SchemaFlat {
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
		}
		if err := res.Decode(&rec); err != nil {
			return loc, fmt.Errorf("look up %s in %s: %w", ip, db.info.Path, err)
		}
		loc.Country = strings.ToUpper(rec.CountryCode)
		loc.Found = loc.Country != ""
		return loc, nil
	}
	var t traits
	if db.g != nil {
		// geoip2-golang is the reader of record for the types it knows.
		c, err := db.g.Country(ip)
		if err == nil {
			err = res.DecodePath(&t, "traits")
		}
		if err != nil {
			return loc, fmt.Errorf("look up %s in %s: %w", ip, db.info.Path, err)
		}
		loc.Country, loc.CountryName = c.Country.ISOCode, c.Country.Names.English
		loc.Registered, loc.Represented = c.RegisteredCountry.ISOCode, c.RepresentedCountry.ISOCode
		t.Anycast = t.Anycast || c.Traits.IsAnycast
	} else {
		var rec nested
		if err := res.Decode(&rec); err != nil {
			return loc, fmt.Errorf("look up %s in %s: %w", ip, db.info.Path, err)
		}
		loc.Country, loc.CountryName = rec.Country.ISOCode, rec.Country.Names["en"]
		loc.Registered, loc.Represented = rec.Registered.ISOCode, rec.Represented.ISOCode
		t = rec.Traits
	}
	loc.AnonymousProxy, loc.SatelliteProvider, loc.Anycast = t.AnonymousProxy, t.SatelliteProvider, t.Anycast
	if loc.Country == "" && loc.Registered == "" && loc.Represented == "" && len(loc.Flags()) == 0 {
		loc.Found = false
	}
	return loc, nil
}
