package mesh

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/secretfile"
	"github.com/meshdoctor/meshdoctor/pki"
)

// Target is what meshdoctor is pointed at: where MESH is, which mailbox, and
// the TLS identity and trust anchors to reach it with.
type Target struct {
	// Environment and Route name a catalogue endpoint; URL overrides them
	// (a sandbox, a proxy-fronted test host).
	Environment Environment
	Route       Route
	URL         string

	Credentials Credentials
	// Recipient is the mailbox messages are sent to; the sender's own
	// mailbox when empty. Workflow is the workflow id they are sent on.
	Recipient string
	Workflow  string

	// The client identity: a keystore (PKCS#12, JKS or PEM, found by
	// content), or a PEM certificate and key. Alias picks the keystore
	// entry when it holds several keys.
	Keystore         string
	KeystorePassword string
	Alias            string
	CertFile         string
	KeyFile          string
	// CABundle is a PEM file of the CAs that issue MESH's server
	// certificates; the system roots when empty.
	CABundle string
	// Proxy says how MESH is reached: the environment's proxy variables,
	// an explicit proxy, or directly.
	Proxy ProxySettings
}

// Profile is a saved Target, as JSON. Relative file names are read from the
// profile's own directory. Secrets may be kept out of it and given as
// environment variables instead.
type Profile struct {
	Environment      string `json:"environment,omitempty"`
	Route            string `json:"route,omitempty"`
	URL              string `json:"url,omitempty"`
	Mailbox          string `json:"mailbox"`
	Password         string `json:"password,omitempty"`
	SharedKey        string `json:"shared_key,omitempty"`
	Recipient        string `json:"recipient,omitempty"`
	Workflow         string `json:"workflow,omitempty"`
	CABundle         string `json:"ca_bundle,omitempty"`
	ClientCert       string `json:"client_cert,omitempty"`
	ClientKey        string `json:"client_key,omitempty"`
	Keystore         string `json:"keystore,omitempty"`
	KeystorePassword string `json:"keystore_password,omitempty"`
	// Proxy is the HTTP proxy MESH is reached through, instead of the
	// environment's HTTPS_PROXY; "none" (or "direct") for no proxy. It
	// carries no password: that is MESH_PROXY_PASSWORD's.
	Proxy string `json:"proxy,omitempty"`
}

// maxProfile bounds a profile file: a real one is a few hundred bytes.
const maxProfile = 1 << 20

func readProfile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("profile %s is a directory, not a file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxProfile+1))
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	if len(data) > maxProfile {
		return nil, fmt.Errorf("profile %s is larger than 1 MiB: not a meshdoctor profile", path)
	}
	// As Windows editors and PowerShell save it (a byte order mark, UTF-16).
	text, err := secretfile.Text(data)
	if err != nil {
		return nil, fmt.Errorf("profile %s %w", path, err)
	}
	return []byte(text), nil
}

// profileError says what is wrong with a profile's JSON in the profile's
// own terms, not Go's.
func profileError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the file is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "its JSON ends early (an unfinished object)"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d (%v)", syn.Offset, syn)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("%q must be a %s, not a JSON %s", typ.Field, typ.Type.Kind(), typ.Value)
	case errors.As(err, &typ):
		return fmt.Sprintf("want a JSON object, not a JSON %s", typ.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown setting " + msg + " (the settings are url, environment, route, mailbox, password, shared_key, recipient, workflow, ca_bundle, client_cert, client_key, keystore, keystore_password, proxy)"
	}
	return err.Error()
}

// SetFields names the settings t carries, by their profile names: what a
// loaded profile contributed, for a report's "from" lines.
func (t Target) SetFields() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"url", t.URL != ""}, {"mailbox", t.Credentials.Mailbox != ""}, {"password", t.Credentials.Password != ""},
		{"shared_key", t.Credentials.SharedKey != ""}, {"keystore", t.Keystore != ""}, {"keystore_password", t.KeystorePassword != ""},
		{"ca_bundle", t.CABundle != ""}, {"client_cert", t.CertFile != ""}, {"recipient", t.Recipient != ""}, {"workflow", t.Workflow != ""},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// LoadProfile reads a profile file into a Target.
func LoadProfile(path string) (Target, error) {
	data, err := readProfile(path)
	if err != nil {
		return Target{}, err
	}
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Target{}, fmt.Errorf("profile %s is not a meshdoctor profile: %s", path, profileError(err))
	}
	if dec.More() {
		return Target{}, fmt.Errorf("profile %s is not a meshdoctor profile: there is more after its JSON object", path)
	}
	if p == (Profile{}) {
		return Target{}, fmt.Errorf("profile %s is empty: it sets nothing (want a JSON object such as {\"url\": \"https://…\", \"mailbox\": \"X26ABC1\"})", path)
	}
	rel := func(f string) string {
		if f == "" || filepath.IsAbs(f) {
			return f
		}
		return filepath.Join(filepath.Dir(path), f)
	}
	t := Target{
		URL:              p.URL,
		Credentials:      Credentials{Mailbox: p.Mailbox, Password: p.Password, SharedKey: p.SharedKey},
		Recipient:        p.Recipient,
		Workflow:         p.Workflow,
		Keystore:         rel(p.Keystore),
		KeystorePassword: p.KeystorePassword,
		CertFile:         rel(p.ClientCert),
		KeyFile:          rel(p.ClientKey),
		CABundle:         rel(p.CABundle),
	}
	switch strings.ToLower(strings.TrimSpace(p.Proxy)) {
	case "":
	case "none", "direct":
		t.Proxy = ProxySettings{Direct: true, Source: "profile " + path}
	default:
		if ProxyCarriesPassword(p.Proxy) {
			return Target{}, fmt.Errorf(`profile %s: "proxy" carries a password: keep it out of the profile and set MESH_PROXY_PASSWORD (or MESH_PROXY_PASSWORD_FILE)`, path)
		}
		if _, err := ParseProxy(p.Proxy, `"proxy"`); err != nil {
			return Target{}, fmt.Errorf("profile %s: %w", path, err)
		}
		t.Proxy = ProxySettings{URL: p.Proxy, Source: "profile " + path}
	}
	if p.Environment != "" {
		if t.Environment, err = ParseEnvironment(p.Environment); err != nil {
			return Target{}, fmt.Errorf("profile %s: %w", path, err)
		}
	}
	if p.Route != "" {
		if t.Route, err = ParseRoute(p.Route); err != nil {
			return Target{}, fmt.Errorf("profile %s: %w", path, err)
		}
	}
	return t, nil
}

// BaseURL is the URL the target's API paths hang off: URL when set,
// otherwise the catalogue host of the environment and route (internet when
// the route is not given).
func (t Target) BaseURL() (string, error) {
	if t.URL != "" {
		return checkURL(t.URL)
	}
	if t.Environment == "" {
		return "", errors.New("no MESH environment or URL: pass --env (int, dev, dep, train, live) or --url")
	}
	route := t.Route
	if route == "" {
		route = Internet
	}
	ep, err := LookupEndpoint(t.Environment, route)
	if err != nil {
		return "", err
	}
	return ep.BaseURL(), nil
}

// checkURL is the MESH base URL a user gave, refused in words that name
// --url when it cannot be one: MESH is https://host[:port], optionally with
// /messageexchange, and nothing else. The URL is echoed only without a
// password.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("MESH URL %q must look like https://host[:port]", hideUserinfo(raw))
	}
	shown := u.Redacted()
	switch port := u.Port(); {
	case u.User != nil:
		return "", fmt.Errorf("MESH URL %q carries a user name or password: MESH authenticates with the certificate and the token, so give https://host[:port] alone", shown)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "", fmt.Errorf("MESH URL %q uses plain http: MESH is only served over https", shown)
	case port != "" && !validPort(port):
		return "", fmt.Errorf("MESH URL %q: the port must be a number from 1 to 65535", shown)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("MESH URL %q must not have a query or fragment: give https://host[:port]", shown)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" && p != PathPrefix {
		return "", fmt.Errorf("MESH URL %q has the path %q: give the host only (the API lives under %s)", shown, u.Path, PathPrefix)
	}
	return u.Scheme + "://" + u.Host, nil
}

// hideUserinfo hides what stands between "://" and the last "@" of a URL
// that may not even parse: it may hold a password.
func hideUserinfo(raw string) string {
	i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@")
	if i < 0 || j < i {
		return raw
	}
	return raw[:i+3] + "…@" + raw[j+1:]
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// IsLive reports whether the target is the live service, judged by the
// environment and by the URL's host.
func (t Target) IsLive() bool {
	if t.Environment == Live {
		return true
	}
	if t.URL != "" {
		if ep, ok := EndpointForURL(t.URL); ok && ep.Environment == Live {
			return true
		}
	}
	return false
}

// TLSConfig loads the client identity and trust anchors. Without a CA
// bundle the system roots are trusted; without an identity no client
// certificate is sent (and MESH will refuse the handshake). The keystore
// may be PKCS#12, JKS or PEM (certificate and key in one file), found by
// content; a PEM certificate may also come with its key in KeyFile.
func (t Target) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CABundle != "" {
		pool, err := pki.LoadPool(t.CABundle)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		cfg.RootCAs = pool
	}
	entry, ok, err := t.ClientIdentity()
	if err != nil {
		return nil, err
	}
	if ok {
		cfg.Certificates = []tls.Certificate{entry.TLSCertificate()}
	}
	if base, err := t.BaseURL(); err == nil {
		if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
			// Verified by hand, to accept what NHS's clients accept: a
			// certificate naming its host only in the CN (HSCN endpoints,
			// NHS's mesh-sandbox), which Go's own check refuses.
			host, roots := u.Hostname(), cfg.RootCAs
			cfg.ServerName = host
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				_, _, err := pki.VerifyServer(cs.PeerCertificates, roots, host, time.Now())
				return err
			}
		}
	}
	return cfg, nil
}

// ClientIdentity loads the keystore (or certificate and key) with the one
// loader of package pki and picks the entry to authenticate with (Alias, or
// the only key entry). ok is false when no identity is configured. A key
// that does not belong to its certificate is an error.
func (t Target) ClientIdentity() (entry pki.Entry, ok bool, err error) {
	path, keyPath, what := t.Keystore, "", "keystore"
	switch {
	case t.Keystore != "" && (t.CertFile != "" || t.KeyFile != ""):
		return pki.Entry{}, false, errors.New("give either a keystore or a certificate and key, not both")
	case t.Keystore == "" && t.CertFile == "" && t.KeyFile != "":
		return pki.Entry{}, false, errors.New("a client key needs its certificate file too")
	case t.Keystore == "" && t.CertFile == "":
		return pki.Entry{}, false, nil
	case t.Keystore == "":
		path, keyPath, what = t.CertFile, t.KeyFile, "client certificate"
	}
	st, err := pki.LoadStore(path, keyPath, t.KeystorePassword)
	if err != nil {
		return pki.Entry{}, false, fmt.Errorf("open %s: %w", what, err)
	}
	e, err := st.Pick(t.Alias)
	if err != nil {
		return pki.Entry{}, false, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	if !e.KeyMatches() {
		return pki.Entry{}, false, fmt.Errorf("open %s %s: the private key of %q does not belong to its certificate", what, path, e.Alias)
	}
	return e, true, nil
}
