package geo_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
)

func TestFindOrder(t *testing.T) {
	root := t.TempDir()
	mk := func(dir, name string) string {
		d := filepath.Join(root, dir)
		os.MkdirAll(d, 0o755)
		return geotest.Write(t, d, name, geotest.Options{})
	}
	flag := mk("flag", "mine.mmdb")
	env := mk("env", "env.mmdb")
	mk("geoipupdate", "GeoLite2-City.mmdb")
	mk("geoipupdate", "GeoLite2-Country.mmdb")
	sys1 := filepath.Join(root, "sys1")
	mk("sys2", "dbip-country-lite-2026-10.mmdb")
	sys2 := filepath.Join(root, "sys2")
	mk("sys2", "dbip-country-lite-2026-11.mmdb")
	mk("sys2", "GeoLite2-ASN.mmdb")
	full := geotest.UserEnv(filepath.Join(root, "home"))
	full["MESHDOCTOR_GEOIP_DB"] = env
	full["GEOIPUPDATE_DB_DIR"] = filepath.Join(root, "geoipupdate")
	getenv := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cacheDir, err := geo.CacheDir(getenv(full))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(cacheDir, 0o755)
	cache := geotest.Write(t, cacheDir, geo.CacheFile, geotest.Options{})
	without := func(keys ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name   string
		s      geo.Search
		want   string
		source string
	}{
		{"flag first", geo.Search{Flag: flag, Getenv: getenv(full), SystemDirs: []string{sys1, sys2}}, flag, "--geoip-db"},
		{"then env", geo.Search{Getenv: getenv(full), SystemDirs: []string{sys1, sys2}}, env, "MESHDOCTOR_GEOIP_DB"},
		{"then cache", geo.Search{Getenv: getenv(without("MESHDOCTOR_GEOIP_DB")), SystemDirs: []string{sys1, sys2}}, cache, "meshdoctor cache"},
		{"then geoipupdate's dir, country before city", geo.Search{Getenv: getenv(without("MESHDOCTOR_GEOIP_DB", "HOME", "LocalAppData")), SystemDirs: []string{sys1, sys2}},
			filepath.Join(root, "geoipupdate", "GeoLite2-Country.mmdb"), "GEOIPUPDATE_DB_DIR"},
		{"then system dirs, newest dated file, never ASN", geo.Search{Getenv: getenv(nil), SystemDirs: []string{sys1, sys2}},
			filepath.Join(root, "sys2", "dbip-country-lite-2026-11.mmdb"), "system"},
		{"a directory as flag", geo.Search{Flag: sys2, Getenv: getenv(nil), SystemDirs: []string{}}, filepath.Join(sys2, "dbip-country-lite-2026-11.mmdb"), "--geoip-db"},
		{"a directory of directories as flag", geo.Search{Flag: root, Getenv: getenv(nil), SystemDirs: []string{}}, "", ""},
		{"XDG cache", geo.Search{Getenv: getenv(map[string]string{"XDG_CACHE_HOME": filepath.Dir(cacheDir)}), SystemDirs: []string{}}, cache, "meshdoctor cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "XDG cache" && (runtime.GOOS == "windows" || runtime.GOOS == "darwin") {
				t.Skip("XDG_CACHE_HOME is read on Unix only")
			}
			got, place, err := tt.s.Find()
			if tt.want == "" {
				if err == nil {
					t.Fatalf("found %s in a directory of directories", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || place.Source != tt.source {
				t.Errorf("found %s from %s, want %s from %s", got, place.Source, tt.want, tt.source)
			}
		})
	}
}

func TestFindNothing(t *testing.T) {
	root := t.TempDir()
	env := geotest.UserEnv(root)
	s := geo.Search{Getenv: func(k string) string { return env[k] }, SystemDirs: []string{filepath.Join(root, "none")}}
	cache, _ := geo.CacheDir(s.Getenv)
	_, _, err := s.Find()
	var nf *geo.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("error %v, want *NotFoundError", err)
	}
	for _, want := range []string{"meshdoctor geo update", cache, filepath.Join(root, "none")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestFindNamedButMissing(t *testing.T) {
	// A file the user named that is not there is an error, not a reason to
	// use another database silently.
	root := t.TempDir()
	geotest.Write(t, root, "GeoLite2-Country.mmdb", geotest.Options{})
	for _, s := range []geo.Search{
		{Flag: filepath.Join(root, "typo.mmdb"), SystemDirs: []string{root}},
		{Getenv: func(k string) string {
			if k == geo.EnvDB {
				return filepath.Join(root, "typo.mmdb")
			}
			return ""
		}, SystemDirs: []string{root}},
	} {
		if got, _, err := s.Find(); err == nil || !strings.Contains(err.Error(), "typo.mmdb") {
			t.Errorf("found %s, err %v", got, err)
		}
	}
}
