package geo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
)

// EnvUpdateURL overrides DefaultUpdateURL, for mirrors.
const EnvUpdateURL = "MESHDOCTOR_GEOIP_URL"

// DefaultUpdateURL is where DB-IP publishes its free Country Lite database
// (CC BY 4.0) each month. "{month}" stands for YYYY-MM.
const DefaultUpdateURL = "https://download.db-ip.com/free/dbip-country-lite-{month}.mmdb.gz"

// maxDatabase bounds the download and its decompressed size: the country
// database is about 8 MB, a city one about 130 MB.
const maxDatabase = 512 << 20

// Updater downloads a country database and installs it.
type Updater struct {
	// URL may hold "{month}"; then the current month is tried and, when the
	// server has no such file yet (404), the month before.
	URL string
	// Client makes the requests (its Transport should carry MESH's proxy).
	Client *http.Client
	// Dir is where the database is installed, as CacheFile.
	Dir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, when set, is told the bytes received so far and the total
	// (-1 when unknown).
	Progress func(done, total int64)
}

// HTTPStatusError is a download the server refused.
type HTTPStatusError struct {
	URL    string
	Status int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("download %s: the server answered HTTP %d", e.URL, e.Status)
}

// Update downloads, checks and installs the database, and returns what was
// installed. The old database stays in place until the new one has been
// proven to open and answer.
func (u Updater) Update(ctx context.Context) (Info, error) {
	now := time.Now
	if u.Now != nil {
		now = u.Now
	}
	client := u.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	}
	if u.Dir == "" {
		return Info{}, errors.New("no directory to install the GeoIP database in")
	}
	if err := os.MkdirAll(u.Dir, 0o755); err != nil {
		return Info{}, fmt.Errorf("create %s: %w", u.Dir, err)
	}
	tmp, err := os.CreateTemp(u.Dir, ".download-*.mmdb")
	if err != nil {
		return Info{}, fmt.Errorf("write in %s: %w", u.Dir, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	urls := []string{u.URL}
	if strings.Contains(u.URL, "{month}") {
		t := now().UTC()
		first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		urls = []string{
			strings.ReplaceAll(u.URL, "{month}", first.Format("2006-01")),
			strings.ReplaceAll(u.URL, "{month}", first.AddDate(0, -1, 0).Format("2006-01")),
		}
	}
	for i, url := range urls {
		err = u.download(ctx, client, url, tmp)
		var st *HTTPStatusError
		if err == nil || !errors.As(err, &st) || st.Status != http.StatusNotFound || i == len(urls)-1 {
			break
		}
		// This month's file is not published yet: start again with last month's.
		if err := resetFile(tmp); err != nil {
			return Info{}, err
		}
	}
	if err != nil {
		return Info{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := Verify(tmp.Name()); err != nil {
		return Info{}, fmt.Errorf("the downloaded database is unusable, kept the old one: %w", err)
	}
	dst := filepath.Join(u.Dir, CacheFile)
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Info{}, err
	}
	// Rename is atomic within a directory: a reader sees the old file or
	// the new one, never half of one.
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Info{}, fmt.Errorf("install %s: %w", dst, err)
	}
	db, err := Open(dst)
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	return db.Info(), nil
}

func resetFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// download writes the database at url into w, gunzipping it when it is
// compressed (a mirror may serve the .mmdb as it is).
func (u Updater) download(ctx context.Context, client *http.Client, rawURL string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	// A mirror's URL may carry a password: errors show it redacted.
	url := req.URL.Redacted()
	req.Header.Set("User-Agent", buildinfo.UserAgent())
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &HTTPStatusError{URL: url, Status: resp.StatusCode}
	}
	var body io.Reader = io.LimitReader(resp.Body, maxDatabase+1)
	if u.Progress != nil {
		body = &progressReader{r: body, total: resp.ContentLength, report: u.Progress}
	}
	br := bufio.NewReader(body)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("download %s: %w", url, err)
		}
		defer zr.Close()
		src = zr
	}
	n, err := io.Copy(w, io.LimitReader(src, maxDatabase+1))
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if n > maxDatabase {
		return fmt.Errorf("download %s: larger than %d MiB, not a country database", url, maxDatabase>>20)
	}
	return nil
}

type progressReader struct {
	r      io.Reader
	done   int64
	total  int64
	report func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	p.report(p.done, p.total)
	return n, err
}

// Verify proves that the file is a sound country database that answers: its
// structure checks out and some network in it has a country.
func Verify(path string) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.mm.Verify(); err != nil {
		return &FormatError{Path: path, Err: err}
	}
	n := 0
	for res := range db.mm.Networks() {
		if err := res.Err(); err != nil {
			return &FormatError{Path: path, Err: err}
		}
		loc, err := db.Lookup(res.Prefix().Addr())
		if err != nil {
			return err
		}
		if loc.Country != "" {
			return nil
		}
		if n++; n > 1000 {
			break
		}
	}
	return fmt.Errorf("%s answers no country for any address it holds", path)
}
