package geo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/miekg/dns"
)

// EnvServices names the HTTPS "what is my IP" services to ask, separated by
// commas or spaces, instead of DefaultServices.
const EnvServices = "MESHDOCTOR_MYIP_URLS"

// DefaultServices are HTTPS services that answer with the caller's address
// as plain text. Each is run by a large operator and needs no account.
func DefaultServices() []string {
	return []string{"https://api.ipify.org", "https://checkip.amazonaws.com", "https://icanhazip.com"}
}

// ParseServices reads a list of service URLs (commas or spaces between), as
// given in a flag or EnvServices. Only https URLs are accepted: a plain-http
// answer could be rewritten by anything on the path.
func ParseServices(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		u, err := url.Parse(f)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("what-is-my-IP service %q is not an https:// URL", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// DNSMethod asks a DNS server that answers with the address the question
// came from.
type DNSMethod struct {
	// Name is the operator ("OpenDNS").
	Name string
	// Question is the name asked; Type is dns.TypeA, TypeAAAA or TypeTXT.
	Question string
	Type     uint16
	// Server is host:port of the server asked directly (not the system
	// resolver, which would answer with its own address).
	Server string
	// Net is "udp4" or "udp6": the family whose egress is measured.
	Net string
}

// Label names the method in evidence: "DNS OpenDNS (IPv4)".
func (m DNSMethod) Label() string {
	fam := "IPv4"
	if strings.HasSuffix(m.Net, "6") {
		fam = "IPv6"
	}
	return fmt.Sprintf("DNS %s (%s)", m.Name, fam)
}

// DefaultDNSMethods are the public DNS methods, IPv4 and IPv6 apart. Akamai
// answers over IPv4 only.
func DefaultDNSMethods() []DNSMethod {
	return []DNSMethod{
		{"OpenDNS", "myip.opendns.com.", dns.TypeA, "resolver1.opendns.com:53", "udp4"},
		{"Google", "o-o.myaddr.l.google.com.", dns.TypeTXT, "ns1.google.com:53", "udp4"},
		{"Akamai", "whoami.akamai.net.", dns.TypeA, "ns1-1.akamaitech.net:53", "udp4"},
		{"OpenDNS", "myip.opendns.com.", dns.TypeAAAA, "resolver1.opendns.com:53", "udp6"},
		{"Google", "o-o.myaddr.l.google.com.", dns.TypeTXT, "ns1.google.com:53", "udp6"},
	}
}

// Answer is what one method said.
type Answer struct {
	// Method names it: a service URL, or DNSMethod.Label.
	Method string
	Addr   netip.Addr
	Err    error
}

// Discoverer finds the address this machine's traffic leaves from.
type Discoverer struct {
	// Services are HTTPS what-is-my-IP URLs, most trusted first.
	Services []string
	// DNS methods are asked after (and less trusted than) the services.
	DNS []DNSMethod
	// Proxy is the proxy MESH traffic uses (http.ProxyFromEnvironment when
	// nil), so that the address found is the one MESH sees.
	Proxy func(*http.Request) (*url.URL, error)
	// TLS is the client TLS configuration for the services (system roots
	// when nil).
	TLS *tls.Config
	// Timeout bounds each method (default 4 s); the context bounds all.
	Timeout time.Duration
}

// Discover asks every method at once and returns their answers in order of
// trust (services, then DNS methods). It returns when all have answered or
// failed, or ctx ends.
func (d Discoverer) Discover(ctx context.Context) []Answer {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 4 * time.Second
	}
	proxy := d.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: proxy, TLSClientConfig: d.TLS, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout},
		Timeout: timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("redirected away from https")
			}
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	defer client.CloseIdleConnections()
	out := make([]Answer, len(d.Services)+len(d.DNS))
	var wg sync.WaitGroup
	for i, s := range d.Services {
		wg.Go(func() {
			a, err := askService(ctx, client, s)
			out[i] = Answer{Method: s, Addr: a, Err: err}
		})
	}
	for i, m := range d.DNS {
		wg.Go(func() {
			a, err := askDNS(ctx, m, timeout)
			out[len(d.Services)+i] = Answer{Method: m.Label(), Addr: a, Err: err}
		})
	}
	wg.Wait()
	return out
}

func askService(ctx context.Context, client *http.Client, service string) (netip.Addr, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, service, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	req.Header.Set("User-Agent", buildinfo.UserAgent())
	req.Header.Set("Accept", "text/plain, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return netip.Addr{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return netip.Addr{}, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read answer: %w", err)
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "{") {
		var v struct {
			IP string `json:"ip"`
		}
		if err := json.Unmarshal(body, &v); err == nil {
			text = v.IP
		}
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("answered %q, not an IP address", shorten(text))
	}
	return a.Unmap(), nil
}

func askDNS(ctx context.Context, m DNSMethod, timeout time.Duration) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(m.Question), m.Type)
	c := &dns.Client{Net: m.Net, Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, q, m.Server)
	if err != nil {
		return netip.Addr{}, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return netip.Addr{}, fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		var s string
		switch v := rr.(type) {
		case *dns.A:
			s = v.A.String()
		case *dns.AAAA:
			s = v.AAAA.String()
		case *dns.TXT:
			s = strings.Join(v.Txt, "")
		}
		// Google adds an "edns0-client-subnet" TXT record; skip what is not
		// an address.
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, errors.New("answered no address")
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Egress is the consolidated answer: the most trusted address per family.
type Egress struct {
	Answers []Answer
	V4, V6  netip.Addr
	// Disagree is set when methods of one family answered different
	// addresses.
	Disagree bool
}

// Consolidate reads answers given in order of trust.
func Consolidate(answers []Answer) Egress {
	e := Egress{Answers: answers}
	for _, a := range answers {
		if a.Err != nil || !a.Addr.IsValid() {
			continue
		}
		slot := &e.V4
		if a.Addr.Is6() {
			slot = &e.V6
		}
		switch {
		case !slot.IsValid():
			*slot = a.Addr
		case *slot != a.Addr:
			e.Disagree = true
		}
	}
	return e
}

// Addrs are the addresses found, IPv4 first.
func (e Egress) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{e.V4, e.V6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// Why says why no address was found, from the methods' errors.
func (e Egress) Why() string {
	if len(e.Answers) == 0 {
		return "no method to discover it was configured"
	}
	var parts []string
	for _, a := range e.Answers {
		if a.Err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", a.Method, oneLine(a.Err.Error())))
		}
	}
	return strings.Join(parts, "; ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// LocalSource returns the local address the system would send from toward
// each address family of host (IPv4 first), found by "connecting" a UDP
// socket, which sends no packet. It tells whether the machine is behind
// NAT: a local address that is not public is translated by a gateway.
func LocalSource(ctx context.Context, resolver *net.Resolver, host string, port int) ([]netip.Addr, error) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		addrs = ips
	}
	var out []netip.Addr
	var v4done, v6done bool
	var firstErr error
	var d net.Dialer
	for _, a := range addrs {
		a = a.Unmap()
		if (a.Is4() && v4done) || (a.Is6() && v6done) {
			continue
		}
		c, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(a, uint16(port)).String())
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			if la, ok := netip.AddrFromSlice(ua.IP); ok {
				out = append(out, la.Unmap())
			}
		}
		c.Close()
		if a.Is4() {
			v4done = true
		} else {
			v6done = true
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, fmt.Errorf("no route toward %s: %w", host, firstErr)
	}
	return out, nil
}
