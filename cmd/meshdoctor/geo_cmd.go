package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// geoDBHelp names this platform's system folders (geoipupdate's own on
// Windows and macOS).
var geoDBHelp = `The GeoIP database is found in this order: --geoip-db FILE, MESHDOCTOR_GEOIP_DB,
meshdoctor's cache (where 'meshdoctor geo update' installs DB-IP Country Lite),
GEOIPUPDATE_DB_DIR, then ` + strings.Join(geo.SystemDirs(), ", ") + `.
MaxMind GeoIP2/GeoLite2 Country and City, DB-IP Country Lite and ip-location-db's
country databases are read.`

func (a *app) geoCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "geo",
		Short: "Where an address geolocates, and the GeoIP database behind the geo.source-ip check",
		Long: `MESH over the internet accepts connections only from UK addresses. The geo.source-ip
check of 'meshdoctor check' judges the address MESH sees; these commands look addresses
up and keep the database current.

` + geoDBHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.geoLookupCommand(), a.geoUpdateCommand())
	return cmd
}

// geoSearch is the database search, from the CLI's environment.
func (a *app) geoSearch(flag string) geo.Search {
	return geo.Search{Flag: flag, Getenv: a.getenv}
}

func (a *app) geoLookupCommand() *cobra.Command {
	var db, format string
	cmd := &cobra.Command{
		Use:   "lookup IP...",
		Short: "Print what the GeoIP database says of each address",
		Long: `Print what the GeoIP database says of each address: country, registered country, the
network the answer holds for, and flags (anonymous proxy, satellite provider, anycast),
with the database file and its build date. For support desks: "is this address UK?".

` + geoDBHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor geo lookup 81.2.69.142
  meshdoctor geo lookup --format json 81.2.69.142 2a02:8010::1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.geoLookup(db, format, args)
		},
	}
	cmd.Flags().StringVar(&db, "geoip-db", "", "GeoIP country or city database (.mmdb)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// geoLookupJSON is the --format json document.
type geoLookupJSON struct {
	Database  geoDatabaseJSON  `json:"database"`
	Addresses []geoAddressJSON `json:"addresses"`
}

type geoDatabaseJSON struct {
	geo.Info
	Built  string `json:"built"`
	Source string `json:"source"`
	Stale  bool   `json:"stale"`
}

type geoAddressJSON struct {
	geo.Location
	Scope string   `json:"scope"`
	Flags []string `json:"flags"`
	Error string   `json:"error,omitempty"`
}

func (a *app) geoLookup(dbFlag, format string, args []string) error {
	if format != "text" && format != "json" {
		return usagef("--format %q: want text or json", format)
	}
	if len(args) == 0 {
		return usagef("give one or more IP addresses, e.g. meshdoctor geo lookup 81.2.69.142")
	}
	var addrs []geoAddressJSON
	for _, s := range args {
		ip, err := geo.ParseAddr(s)
		if err != nil {
			return usageError{err}
		}
		addrs = append(addrs, geoAddressJSON{Location: geo.Location{IP: ip}, Scope: string(geo.ScopeOf(ip))})
	}
	db, place, err := a.geoSearch(dbFlag).OpenFound()
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	info := db.Info()
	for i := range addrs {
		loc, err := db.Lookup(addrs[i].IP)
		if err != nil {
			// One address the database cannot place (an IPv6 one in an
			// IPv4-only file, say) does not hide the answers for the others.
			addrs[i].Error = err.Error()
		}
		addrs[i].Location = loc
		addrs[i].Flags = loc.Flags()
		if addrs[i].Flags == nil {
			addrs[i].Flags = []string{}
		}
	}
	stale := info.Stale(time.Now())
	if format == "json" {
		doc := geoLookupJSON{
			Database:  geoDatabaseJSON{Info: info, Built: info.Built.Format(time.DateOnly), Source: place.Source, Stale: stale},
			Addresses: addrs,
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	width := 0
	for _, ad := range addrs {
		width = max(width, len(ad.IP.String()))
	}
	for _, ad := range addrs {
		fmt.Fprintf(a.stdout, "%-*s  %s\n", width, ad.IP, describeLocation(ad))
	}
	fmt.Fprintf(a.stdout, "\nDatabase: %s (%s, built %s), found by %s\n", info.Path, info.Type, info.Built.Format(time.DateOnly), place.Source)
	if stale {
		fmt.Fprintf(a.stdout, "Stale: the database is more than %d days old and address blocks move; run 'meshdoctor geo update'.\n",
			int(geo.StaleAfter.Hours()/24))
	}
	return nil
}

func describeLocation(ad geoAddressJSON) string {
	if sc := geo.Scope(ad.Scope); sc != geo.Public {
		return sc.Describe() + ": in no GeoIP database, and never the address MESH sees"
	}
	if ad.Error != "" {
		return "cannot tell: " + ad.Error
	}
	if !ad.Found {
		return "not in the database"
	}
	var parts []string
	switch {
	case ad.Country == "GB":
		parts = append(parts, "UK (GB)")
	case ad.Country == "":
		parts = append(parts, "no country")
	case ad.CountryName != "":
		parts = append(parts, fmt.Sprintf("%s (%s), not the UK", ad.CountryName, ad.Country))
	default:
		parts = append(parts, ad.Country+", not the UK")
	}
	if ad.Registered != "" && ad.Registered != ad.Country {
		parts = append(parts, "registered in "+ad.Registered)
	}
	if ad.Represented != "" {
		parts = append(parts, "represents "+ad.Represented)
	}
	if ad.Network.IsValid() {
		parts = append(parts, "network "+ad.Network.String())
	}
	parts = append(parts, ad.Flags...)
	return strings.Join(parts, ", ")
}

func (a *app) geoUpdateCommand() *cobra.Command {
	var rawURL, dir, caBundle string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download DB-IP's free Country Lite database into meshdoctor's cache",
		Long: `Download the current DB-IP IP-to-Country Lite database (free, monthly, no account; licensed
CC BY 4.0: "IP Geolocation by DB-IP", https://db-ip.com), check that it opens and answers,
and install it atomically in meshdoctor's cache directory, where the geo.source-ip check and
'meshdoctor geo lookup' find it. The old database stays until the new one is proven.

The download goes through the proxy named by HTTPS_PROXY, as MESH traffic does. --url (or
MESHDOCTOR_GEOIP_URL) names a mirror; "{month}" in it stands for YYYY-MM, and the month
before is tried when this month's file is not yet published.

` + exitCodesHelp,
		Example: `  meshdoctor geo update
  MESHDOCTOR_GEOIP_URL=https://mirror.example.nhs.uk/geoip/dbip-country-lite-{month}.mmdb.gz meshdoctor geo update`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.geoUpdate(cmd.Context(), rawURL, dir, caBundle)
		},
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "where to download from (default $MESHDOCTOR_GEOIP_URL, else DB-IP: "+geo.DefaultUpdateURL+")")
	cmd.Flags().StringVar(&dir, "dir", "", "install into this directory instead of meshdoctor's cache")
	cmd.Flags().StringVar(&caBundle, "ca-bundle", "", "PEM file of extra CAs to trust for the download (a TLS-inspecting proxy's, a mirror's)")
	return cmd
}

func (a *app) geoUpdate(ctx context.Context, rawURL, dir, caBundle string) error {
	src := first(rawURL, a.getenv(geo.EnvUpdateURL), geo.DefaultUpdateURL)
	if u, err := url.Parse(src); err != nil || u.Scheme != "https" || u.Host == "" {
		return usagef("GeoIP download URL %q must be an https:// URL", src)
	}
	if dir == "" {
		d, err := geo.CacheDir(a.getenv)
		if err != nil {
			return usageError{fmt.Errorf("%w: pass --dir", err)}
		}
		dir = d
	}
	// The proxy variables as meshdoctor reads them for MESH (a value that
	// does not parse is refused in words, never guessed at).
	proxy := mesh.ProxySettings{Env: mesh.ReadProxyEnv(a.getenv)}
	tr := &http.Transport{Proxy: proxy.Func(), TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}, TLSHandshakeTimeout: 30 * time.Second}
	if caBundle != "" {
		// Extra CAs: the system's roots still serve DB-IP itself.
		data, err := pki.ReadFile(caBundle, "CA bundle")
		if err != nil {
			return usagef("--ca-bundle: %v", err)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return usagef("--ca-bundle %s: %v", caBundle, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	u := geo.Updater{URL: src, Dir: dir, Client: &http.Client{Transport: tr}}
	if isTerminal(a.stderr) {
		fmt.Fprintf(a.stderr, "Downloading the GeoIP country database from %s\n", redactURL(src))
		u.Progress = progressBar(a.stderr)
	}
	info, err := u.Update(ctx)
	if u.Progress != nil {
		fmt.Fprintln(a.stderr)
	}
	if err != nil {
		return cannotRunError{err}
	}
	fmt.Fprintf(a.stdout, "Installed %s (%s, built %s).\n", info.Path, info.Type, info.Built.Format(time.DateOnly))
	if strings.HasPrefix(info.Type, "DBIP") {
		fmt.Fprintln(a.stdout, "IP Geolocation by DB-IP (https://db-ip.com), licensed CC BY 4.0.")
	}
	return nil
}

// redactURL drops any user:password a mirror URL carries.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

func progressBar(w io.Writer) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if time.Since(last) < 100*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		if total <= 0 {
			fmt.Fprintf(w, "\r  %s", formatBytes(done))
			return
		}
		const width = 30
		n := int(done * width / total)
		fmt.Fprintf(w, "\r  [%s%s] %s of %s", strings.Repeat("#", n), strings.Repeat(".", width-n), formatBytes(done), formatBytes(total))
	}
}

// geoCheckFlags are the flags of 'meshdoctor check' (and 'run') that feed
// the geo.source-ip check. The check command registers them with register
// and copies them into its checks.Options with apply.
type geoCheckFlags struct {
	db, sourceIP, myIP string
}

func (g *geoCheckFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&g.db, "geoip-db", "", "GeoIP country database (.mmdb) for geo.source-ip (default: found; see 'meshdoctor geo --help')")
	fl.StringVar(&g.sourceIP, "source-ip", "", "the public address MESH traffic leaves from, to judge instead of discovering it (no network needed)")
	fl.StringVar(&g.myIP, "myip-url", "", "HTTPS what-is-my-IP services to discover the egress address with, comma-separated, or none (default $"+geo.EnvServices+", else a built-in list)")
}

// apply copies the flags into opts: --geoip-db as GeoIPDB (the check reads
// MESHDOCTOR_GEOIP_DB and the rest of the search itself, through
// opts.Getenv, which apply sets to the CLI's environment when unset, so the
// evidence names where the database came from), and --source-ip (else
// MESHDOCTOR_SOURCE_IP) as SourceIP, and --myip-url, which the check reads
// as MESHDOCTOR_MYIP_URLS (so opts.Getenv answers that variable with the
// flag's value). An address or service URL that does not parse is a usage
// error, one line.
func (a *app) applyGeoFlags(g geoCheckFlags, opts *checks.Options) error {
	if opts.Getenv == nil {
		opts.Getenv = a.getenv
	}
	opts.GeoIPDB = g.db
	src := first(g.sourceIP, a.getenv("MESHDOCTOR_SOURCE_IP"))
	if src != "" {
		if _, err := geo.ParseAddr(src); err != nil {
			return usagef("--source-ip: %v", err)
		}
	}
	opts.SourceIP = src
	if myIP := first(g.myIP, a.getenv(geo.EnvServices)); myIP != "" && !strings.EqualFold(myIP, "none") {
		if _, err := geo.ParseServices(myIP); err != nil {
			return usageError{err}
		}
	}
	if g.myIP != "" {
		env := opts.Getenv
		opts.Getenv = func(k string) string {
			if k == geo.EnvServices {
				return g.myIP
			}
			return env(k)
		}
	}
	if opts.Sources == nil {
		opts.Sources = map[string]string{}
	}
	if g.sourceIP != "" {
		opts.Sources["source_ip"] = "--source-ip"
	} else if src != "" {
		opts.Sources["source_ip"] = "MESHDOCTOR_SOURCE_IP"
	}
	return nil
}
