package mesh

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// This file decides how MESH traffic leaves this machine: directly, or
// through which HTTP proxy and why. It reads the proxy variables itself,
// the way Go and curl read them, instead of handing them to
// http.ProxyFromEnvironment: that function retries a value it cannot parse
// as "http://"+value, so a password with an unescaped '/' or '#' became a
// proxy named after the password's pieces, printed in errors.

// ProxySettings say how a target reaches MESH: through the proxy the
// environment's variables name (the default), through an explicit proxy, or
// directly.
type ProxySettings struct {
	// URL is an explicit proxy (--proxy, a profile's "proxy") used instead
	// of the variables; Source names where it came from. It carries no
	// password: that comes from Password.
	URL    string
	Source string
	// Direct: connect to MESH directly whatever the variables say
	// (--no-proxy).
	Direct bool
	// Env is the proxy variables of the environment (ReadProxyEnv).
	Env ProxyEnv
	// User and Password authenticate to the proxy (MESH_PROXY_USER,
	// MESH_PROXY_PASSWORD): they override the user information of the
	// proxy URL.
	User, Password string
}

// ProxyEnv is the proxy variables of an environment, as Go reads them (the
// upper-case name first) with the name each value came from.
type ProxyEnv struct {
	// Read is true once the variables were read: ProxySettings with an
	// unread ProxyEnv read this process's environment when used.
	Read                bool
	HTTPS, HTTPSVar     string
	HTTP, HTTPVar       string
	NoProxy, NoProxyVar string
	// AllVar is ALL_PROXY or all_proxy when set: curl reads it, Go does not.
	AllVar string
	// Differ notes a variable set twice (HTTPS_PROXY and https_proxy) with
	// different values: Go and curl then disagree.
	Differ string
}

// ReadProxyEnv reads the proxy variables with getenv.
func ReadProxyEnv(getenv func(string) string) ProxyEnv {
	e := ProxyEnv{Read: true}
	pick := func(dst, name *string, upper, lower string) {
		u, l := getenv(upper), getenv(lower)
		switch {
		case u != "":
			*dst, *name = u, upper
		case l != "":
			*dst, *name = l, lower
		}
		if u != "" && l != "" && u != l && e.Differ == "" {
			e.Differ = fmt.Sprintf("%s and %s are both set, to different values: Go programs read %s, curl reads %s", upper, lower, upper, lower)
		}
	}
	pick(&e.HTTPS, &e.HTTPSVar, "HTTPS_PROXY", "https_proxy")
	pick(&e.HTTP, &e.HTTPVar, "HTTP_PROXY", "http_proxy")
	pick(&e.NoProxy, &e.NoProxyVar, "NO_PROXY", "no_proxy")
	for _, n := range []string{"ALL_PROXY", "all_proxy"} {
		if getenv(n) != "" && e.AllVar == "" {
			e.AllVar = n
		}
	}
	return e
}

// Proxy is a parsed HTTP proxy. Its password is kept apart so that printing
// a Proxy never shows it: String rebuilds scheme://user@host:port from the
// parts.
type Proxy struct {
	Scheme string // http or https (TLS to the proxy itself)
	Host   string
	Port   string
	User   string
	// From names where the proxy came from: a variable, a flag, a profile.
	From     string
	password string
}

// String is scheme://user@host:port, never with the password.
func (p *Proxy) String() string {
	if p == nil {
		return ""
	}
	s := p.Scheme + "://"
	if p.User != "" {
		s += p.User + "@"
	}
	return s + p.Addr()
}

// Addr is host:port for dialing the proxy.
func (p *Proxy) Addr() string { return net.JoinHostPort(p.Host, p.Port) }

// HasCredentials reports whether a user name and password are there.
func (p *Proxy) HasCredentials() bool { return p.User != "" && p.password != "" }

// HasPassword reports whether a password is there, with or without a user.
func (p *Proxy) HasPassword() bool { return p.password != "" }

// URL is the proxy as a URL for Go's own transports (which send Basic
// credentials from it), password included: never print it.
func (p *Proxy) URL() *url.URL {
	u := &url.URL{Scheme: p.Scheme, Host: p.Addr()}
	if p.User != "" {
		u.User = url.UserPassword(p.User, p.password)
	}
	return u
}

// ProxyError is a proxy setting that cannot be used. It never holds the
// value: a value that does not parse may hold a password in clear.
type ProxyError struct {
	From   string // the variable or flag
	Reason string
}

func (e *ProxyError) Error() string { return e.From + ": " + e.Reason }

// encodeHint is what to do about a proxy URL that does not parse: nearly
// always a password with a character that means something in a URL.
const encodeHint = "percent-encode special characters in the proxy password (/ as %2F, # as %23, ? as %3F, @ as %40, : as %3A, % as %25), or give the password in MESH_PROXY_PASSWORD instead"

// ParseProxy reads a proxy URL as Go and curl accept it: scheme://[user[:password]@]host[:port],
// http:// assumed when no scheme is given, the port 80 (http) or 443
// (https) when none is given. Errors never repeat the value.
func ParseProxy(raw, from string) (*Proxy, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, &ProxyError{from, "is empty"}
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, &ProxyError{from, "cannot be read as a proxy URL (want http://[user:password@]host:port): " + encodeHint}
	}
	switch u.Scheme {
	case "http", "https":
	case "socks5", "socks5h", "socks4", "socks":
		return nil, &ProxyError{from, "names a SOCKS proxy: meshdoctor and MESH clients use an HTTP proxy (http://host:port)"}
	default:
		return nil, &ProxyError{from, fmt.Sprintf("has the scheme %q: a proxy URL starts with http:// (or https:// for TLS to the proxy itself)", u.Scheme)}
	}
	p := &Proxy{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port(), From: from}
	if p.Host == "" {
		return nil, &ProxyError{from, "names no proxy host (want http://host:port)"}
	}
	if p.Port == "" {
		p.Port = map[string]string{"http": "80", "https": "443"}[p.Scheme]
	} else if n, err := strconv.Atoi(p.Port); err != nil || n < 1 || n > 65535 {
		return nil, &ProxyError{from, "has a port that is not a number from 1 to 65535"}
	}
	if u.User != nil {
		p.User = u.User.Username()
		p.password, _ = u.User.Password()
	}
	return p, nil
}

// ProxyCarriesPassword reports whether a proxy value holds a password in
// its user information, whether or not it parses: where a value must carry
// none (a flag, a profile, the exporter's config), saying so beats asking
// to percent-encode a password that would then be refused anyway.
func ProxyCarriesPassword(raw string) bool {
	if p, err := ParseProxy(raw, ""); err == nil {
		return p.password != ""
	}
	rest := strings.TrimSpace(raw)
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	return at >= 0 && strings.Contains(rest[:at], ":")
}

// LeakedProxySecrets are the parts of a proxy value that may be a password,
// whether or not it parses: the password of a URL that parses, and for one
// that does not, the value itself and what stands between the user's ':'
// and the last '@'. Redaction hides them all.
func LeakedProxySecrets(raw string) []string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil // no user information: nothing secret
	}
	p, err := ParseProxy(raw, "")
	if err == nil && p.password == "" {
		return nil // a user name alone is no secret
	}
	out := []string{raw}
	if err == nil {
		out = append(out, p.password)
	}
	// The password as written in the value (encoded, or cut wrongly by
	// a parser that stopped at an unescaped character).
	if c := strings.Index(rest[:at], ":"); c >= 0 {
		out = append(out, rest[c+1:at])
	}
	return out
}

// Secrets are every value of these settings that a report must hide: the
// proxy password and any proxy value that carries user information.
func (s ProxySettings) Secrets() []string {
	s = s.withEnv()
	var out []string
	if s.Password != "" {
		out = append(out, s.Password)
	}
	for _, v := range []string{s.URL, s.Env.HTTPS, s.Env.HTTP} {
		out = append(out, LeakedProxySecrets(v)...)
	}
	return out
}

// withEnv is s with the environment read, when it was not.
func (s ProxySettings) withEnv() ProxySettings {
	if !s.Env.Read {
		s.Env = ReadProxyEnv(os.Getenv)
	}
	return s
}

// ProxyRoute is the way MESH traffic to one host takes, and why.
type ProxyRoute struct {
	// Proxy is the proxy to go through; nil when the route is direct.
	Proxy *Proxy
	// Why says, in words, what chose the route: a variable, a flag, a
	// NO_PROXY entry.
	Why string
	// Bypass is the NO_PROXY entry that sent the host direct, if any.
	Bypass string
	// Notes are facts about the variables worth a reader's attention
	// (HTTP_PROXY set but not used for https, curl and Go disagreeing).
	Notes []string
}

// Direct reports whether the route goes to MESH without a proxy.
func (r ProxyRoute) Direct() bool { return r.Proxy == nil }

// Describe is the route in one line: "direct (no HTTPS_PROXY set)" or
// "through the proxy http://alice@proxy:3128 (HTTPS_PROXY)".
func (r ProxyRoute) Describe() string {
	if r.Proxy == nil {
		return "direct (" + r.Why + ")"
	}
	return "through the proxy " + r.Proxy.String() + " (" + r.Why + ")"
}

// Route decides how traffic to scheme://host:port goes. Like Go's
// transport and curl: HTTPS_PROXY for https (HTTP_PROXY only for http),
// NO_PROXY's entries, and never a proxy for a loopback host unless one is
// given explicitly (a proxy test fixture on this machine).
func (s ProxySettings) Route(scheme, host, port string) (ProxyRoute, error) {
	s = s.withEnv()
	var r ProxyRoute
	if s.Env.AllVar != "" && !s.Direct && s.URL == "" {
		r.Notes = append(r.Notes, s.Env.AllVar+" is set: curl uses it, but Go programs (and meshdoctor) do not; set HTTPS_PROXY")
	}
	if s.Env.Differ != "" {
		r.Notes = append(r.Notes, s.Env.Differ)
	}
	withCreds := func(p *Proxy) *Proxy {
		if s.User != "" {
			p.User = s.User
		}
		if s.Password != "" {
			p.password = s.Password
		}
		return p
	}
	switch {
	case s.Direct:
		r.Why = "--no-proxy"
		return r, nil
	case s.URL != "":
		from := firstNonEmpty(s.Source, "--proxy")
		p, err := ParseProxy(s.URL, from)
		if err != nil {
			return r, err
		}
		r.Proxy, r.Why = withCreds(p), from
		return r, nil
	}
	value, name := s.Env.HTTPS, s.Env.HTTPSVar
	if scheme == "http" {
		value, name = s.Env.HTTP, s.Env.HTTPVar
	}
	if value == "" {
		r.Why = "no HTTPS_PROXY or https_proxy is set"
		if scheme == "http" {
			r.Why = "no HTTP_PROXY or http_proxy is set"
		} else if s.Env.HTTP != "" {
			r.Notes = append(r.Notes, s.Env.HTTPVar+" is set, but Go programs and curl use it only for http:// URLs: MESH is https, so it goes direct (set HTTPS_PROXY to use the proxy)")
		}
		return r, nil
	}
	if loopbackHost(host) {
		r.Why = "a loopback address never goes through a proxy"
		return r, nil
	}
	if entry := noProxyMatch(s.Env.NoProxy, host, port); entry != "" {
		r.Why = fmt.Sprintf("%s's entry %q matches %s", s.Env.NoProxyVar, entry, host)
		r.Bypass = entry
		return r, nil
	}
	p, err := ParseProxy(value, name)
	if err != nil {
		return r, err
	}
	r.Proxy, r.Why = withCreds(p), name
	return r, nil
}

// RouteTo is Route for a base URL such as https://host:port.
func (s ProxySettings) RouteTo(base string) (ProxyRoute, error) {
	u, err := url.Parse(base)
	if err != nil {
		return ProxyRoute{}, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return s.Route(u.Scheme, u.Hostname(), port)
}

// Func is the settings as a Proxy function for Go's own transports (what
// is not MESH traffic: the egress discovery). Basic authentication only.
func (s ProxySettings) Func() func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		r, err := s.Route(req.URL.Scheme, req.URL.Hostname(), req.URL.Port())
		if err != nil || r.Proxy == nil {
			return nil, err
		}
		return r.Proxy.URL(), nil
	}
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// noProxyMatch returns the NO_PROXY entry that matches host:port, as Go's
// transport reads NO_PROXY: "*" matches everything; an IP address or CIDR
// matches addresses; "example.com" matches it and its subdomains,
// ".example.com" (or "*.example.com") its subdomains only; any entry may
// carry a :port.
func noProxyMatch(noProxy, host, port string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ip, ipErr := netip.ParseAddr(host)
	for _, raw := range strings.Split(noProxy, ",") {
		entry := strings.ToLower(strings.TrimSpace(raw))
		if entry == "" {
			continue
		}
		if entry == "*" {
			return raw
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			if ipErr == nil && p.Contains(ip.Unmap()) {
				return strings.TrimSpace(raw)
			}
			continue
		}
		h, ePort := entry, ""
		if hh, pp, err := net.SplitHostPort(entry); err == nil {
			h, ePort = hh, pp
		}
		if ePort != "" && ePort != port {
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			if ipErr == nil && a.Unmap() == ip.Unmap() {
				return strings.TrimSpace(raw)
			}
			continue
		}
		h = strings.TrimPrefix(h, "*")
		if strings.HasPrefix(h, ".") {
			if strings.HasSuffix(host, h) {
				return strings.TrimSpace(raw)
			}
			continue
		}
		if host == h || strings.HasSuffix(host, "."+h) {
			return strings.TrimSpace(raw)
		}
	}
	return ""
}
