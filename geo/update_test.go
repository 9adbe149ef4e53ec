package geo_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/geo"
	"github.com/meshdoctor/meshdoctor/geo/geotest"
)

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestUpdate(t *testing.T) {
	src := t.TempDir()
	good, _ := os.ReadFile(geotest.Write(t, src, "good.mmdb", geotest.Options{Type: "DBIP-Country-Lite"}))
	asn, _ := os.ReadFile(geotest.Write(t, src, "asn.mmdb", geotest.Options{Type: "DBIP-ASN-Lite (compat=GeoLite2-ASN)", ASN: true}))
	files := map[string][]byte{
		"/free/dbip-country-lite-2026-10.mmdb.gz": gzipped(t, good),
		"/mirror/plain.mmdb":                      good,
		"/mirror/asn.mmdb.gz":                     gzipped(t, asn),
		"/mirror/garbage.mmdb.gz":                 gzipped(t, []byte("<html>login required</html>")),
		"/mirror/broken.gz":                       gzipped(t, good)[:100],
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	now := func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }

	tests := []struct {
		name  string
		url   string
		error string
	}{
		// November's file is not out yet on the 2nd: October's is taken.
		{"this month, else last", srv.URL + "/free/dbip-country-lite-{month}.mmdb.gz", ""},
		{"plain mmdb from a mirror", srv.URL + "/mirror/plain.mmdb", ""},
		{"not found", srv.URL + "/mirror/none.mmdb.gz", "HTTP 404"},
		{"not found, password redacted", strings.Replace(srv.URL, "https://", "https://mirror:secret-mirror-pw@", 1) + "/none.mmdb.gz", "https://mirror:xxxxx@"},
		{"ASN database", srv.URL + "/mirror/asn.mmdb.gz", "carries no country"},
		{"not a database", srv.URL + "/mirror/garbage.mmdb.gz", "not a GeoIP database"},
		{"truncated gzip", srv.URL + "/mirror/broken.gz", "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache", "meshdoctor")
			var calls int
			u := geo.Updater{URL: tt.url, Client: srv.Client(), Dir: dir, Now: now, Progress: func(done, total int64) { calls++ }}
			info, err := u.Update(context.Background())
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) || strings.Contains(err.Error(), "secret-mirror-pw") {
					t.Fatalf("error %v, want %q (and no password)", err, tt.error)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Fatalf("left files behind: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Path != filepath.Join(dir, geo.CacheFile) || info.Type != "DBIP-Country-Lite" || calls == 0 {
				t.Fatalf("info %+v, progress calls %d", info, calls)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("cache holds %v, want the database alone", entries)
			}
			// Discovery finds what update installed.
			found, place, err := geo.Search{Getenv: func(k string) string {
				if k == "XDG_CACHE_HOME" || k == "LocalAppData" { // Unix, Windows
					return filepath.Dir(dir)
				}
				return ""
			}, SystemDirs: []string{}}.Find()
			if err != nil || found != info.Path || place.Source != "meshdoctor cache" {
				t.Fatalf("found %s from %s, %v", found, place.Source, err)
			}
			db, err := geo.Open(found)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if loc, _ := db.Lookup(netip.MustParseAddr(geotest.GB)); loc.Country != "GB" {
				t.Fatalf("installed database says %+v", loc)
			}
		})
	}
}

func TestUpdateKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	old := geotest.Write(t, dir, geo.CacheFile, geotest.Options{Type: "DBIP-Country-Lite"})
	before, _ := os.ReadFile(old)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not a database"))
	}))
	defer srv.Close()
	_, err := geo.Updater{URL: srv.URL + "/x.mmdb", Client: srv.Client(), Dir: dir}.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "kept the old one") {
		t.Fatalf("error %v", err)
	}
	after, _ := os.ReadFile(old)
	if !bytes.Equal(before, after) {
		t.Fatal("the old database was changed")
	}
}
