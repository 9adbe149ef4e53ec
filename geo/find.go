package geo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Environment variables the search reads.
const (
	// EnvDB names a database file (or a directory holding one).
	EnvDB = "MESHDOCTOR_GEOIP_DB"
	// EnvGeoIPUpdateDir is geoipupdate's own database directory variable.
	EnvGeoIPUpdateDir = "GEOIPUPDATE_DB_DIR"
)

// CacheFile is the name 'meshdoctor geo update' installs the database as,
// in CacheDir.
const CacheFile = "dbip-country-lite.mmdb"

// SystemDirs are where geoipupdate and the operating system keep databases
// on this platform.
func SystemDirs() []string { return systemDirs(runtime.GOOS, os.Getenv) }

// systemDirs: geoipupdate's default database directory on Windows is
// %SystemDrive%\ProgramData\MaxMind\GeoIPUpdate\GeoIP; Linux distributions
// and Homebrew (/opt/homebrew/var/GeoIP, /usr/local/var/GeoIP) the Unix ones.
func systemDirs(goos string, getenv func(string) string) []string {
	switch goos {
	case "windows":
		var dirs []string
		add := func(base string) {
			if base == "" {
				return
			}
			d := base + `\MaxMind\GeoIPUpdate\GeoIP`
			if !slices.ContainsFunc(dirs, func(x string) bool { return strings.EqualFold(x, d) }) {
				dirs = append(dirs, d)
			}
		}
		add(strings.TrimRight(getenv("ProgramData"), `\`))
		drive := strings.TrimRight(getenv("SystemDrive"), `\`)
		if drive == "" {
			drive = "C:"
		}
		add(drive + `\ProgramData`)
		return dirs
	case "darwin":
		return []string{"/usr/local/share/GeoIP", "/opt/homebrew/var/GeoIP", "/usr/local/var/GeoIP"}
	}
	return []string{"/var/lib/GeoIP", "/usr/share/GeoIP", "/usr/local/share/GeoIP"}
}

// knownNames are the file names of country databases, best first: a
// country database answers what is asked and is smaller than a city one.
var knownNames = []string{
	"GeoIP2-Country.mmdb", "GeoLite2-Country.mmdb", CacheFile, "dbip-country.mmdb",
	"GeoIP2-City.mmdb", "GeoLite2-City.mmdb", "dbip-city-lite.mmdb",
}

// Search says where to look for a database. Every field is injected so that
// tests, and the CLI, decide what the environment is.
type Search struct {
	// Flag is --geoip-db: a file (or directory) the user named.
	Flag string
	// Getenv reads MESHDOCTOR_GEOIP_DB and GEOIPUPDATE_DB_DIR (and, through
	// CacheDir, HOME and XDG_CACHE_HOME). Nil reads nothing.
	Getenv func(string) string
	// CacheDir is meshdoctor's own cache; "" means CacheDir(Getenv).
	CacheDir string
	// SystemDirs default to SystemDirs(); an empty non-nil slice looks
	// nowhere else.
	SystemDirs []string
}

// Place is one place the search looked.
type Place struct {
	Path string
	// Source says why it was looked at: "--geoip-db", "MESHDOCTOR_GEOIP_DB",
	// "meshdoctor cache", "GEOIPUPDATE_DB_DIR" or "system".
	Source string
}

// NotFoundError says that no database was found, and where the search looked.
type NotFoundError struct{ Looked []Place }

func (e *NotFoundError) Error() string {
	var dirs []string
	for _, p := range e.Looked {
		dirs = append(dirs, p.Path)
	}
	return fmt.Sprintf("no GeoIP country database found (looked in %s): run 'meshdoctor geo update' "+
		"to download DB-IP's free one, or pass --geoip-db FILE", strings.Join(dirs, ", "))
}

func (s Search) getenv(k string) string {
	if s.Getenv == nil {
		return ""
	}
	return strings.TrimSpace(s.Getenv(k))
}

// Places lists where the search looks, in order.
func (s Search) Places() []Place {
	var out []Place
	if s.Flag != "" {
		out = append(out, Place{s.Flag, "--geoip-db"})
	}
	if v := s.getenv(EnvDB); v != "" {
		out = append(out, Place{v, EnvDB})
	}
	cache := s.CacheDir
	if cache == "" {
		cache, _ = CacheDir(s.Getenv)
	}
	if cache != "" {
		out = append(out, Place{cache, "meshdoctor cache"})
	}
	if v := s.getenv(EnvGeoIPUpdateDir); v != "" {
		out = append(out, Place{v, EnvGeoIPUpdateDir})
	}
	dirs := s.SystemDirs
	if dirs == nil {
		dirs = systemDirs(runtime.GOOS, s.getenv)
	}
	for _, d := range dirs {
		out = append(out, Place{d, "system"})
	}
	return out
}

// Find returns the first database the search finds and the place that
// named it. A file the user named (by flag or MESHDOCTOR_GEOIP_DB) that does
// not exist is an error, not a reason to look further: the user meant it.
// Nothing anywhere is a *NotFoundError.
func (s Search) Find() (string, Place, error) {
	places := s.Places()
	for _, p := range places {
		named := p.Source == "--geoip-db" || p.Source == EnvDB
		st, err := os.Stat(p.Path)
		if err != nil {
			if named {
				return "", p, fmt.Errorf("GeoIP database from %s: %w", p.Source, err)
			}
			continue
		}
		if !st.IsDir() {
			return p.Path, p, nil
		}
		if f := findIn(p.Path); f != "" {
			return f, p, nil
		}
		if named {
			return "", p, fmt.Errorf("GeoIP database from %s: no country database (.mmdb) in directory %s", p.Source, p.Path)
		}
	}
	return "", Place{}, &NotFoundError{Looked: places}
}

// findIn picks a country database in dir: a known name first, then any
// .mmdb whose name says country or city.
func findIn(dir string) string {
	for _, n := range knownNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		n := strings.ToLower(e.Name())
		if !e.IsDir() && strings.HasSuffix(n, ".mmdb") && (strings.Contains(n, "country") || strings.Contains(n, "city")) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	// Dated names (dbip-country-lite-2026-11.mmdb) sort oldest first.
	slices.Sort(names)
	return filepath.Join(dir, names[len(names)-1])
}

// OpenFound finds and opens the database.
func (s Search) OpenFound() (*DB, Place, error) {
	path, place, err := s.Find()
	if err != nil {
		return nil, place, err
	}
	db, err := Open(path)
	return db, place, err
}

// CacheDir is meshdoctor's cache directory, as os.UserCacheDir computes it
// but from the environment given.
func CacheDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var base string
	switch runtime.GOOS {
	case "windows":
		base = getenv("LocalAppData")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			base = filepath.Join(h, "Library", "Caches")
		}
	default:
		base = getenv("XDG_CACHE_HOME")
		if base != "" && !filepath.IsAbs(base) {
			base = ""
		}
		if base == "" {
			if h := getenv("HOME"); h != "" {
				base = filepath.Join(h, ".cache")
			}
		}
	}
	if base == "" {
		return "", errors.New("no user cache directory: neither XDG_CACHE_HOME nor HOME is set")
	}
	return filepath.Join(base, "meshdoctor"), nil
}
