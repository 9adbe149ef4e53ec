package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// This file makes the run's network observations, each once: the endpoint,
// DNS, the TCP connection (through a proxy when one applies), the TLS
// handshake, and one HTTP exchange (the MESH handshake) over that same
// connection. Checks judge them; none of them dials on its own.

// Endpoint is where the target's API lives.
type Endpoint struct {
	URL    *url.URL
	Scheme string
	Host   string // without brackets
	Port   string
	// Addr is set when Host is an IP literal.
	Addr netip.Addr
}

// HostPort is host:port for dialing.
func (e Endpoint) HostPort() string { return net.JoinHostPort(e.Host, e.Port) }

// Endpoint parses the target's base URL.
func (f *Facts) Endpoint() (Endpoint, error) {
	base, err := f.Target.BaseURL()
	if err != nil {
		return Endpoint{}, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return Endpoint{}, fmt.Errorf("MESH URL %q: %w", base, err)
	}
	e := Endpoint{URL: u, Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port()}
	if e.Port == "" {
		e.Port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if a, err := netip.ParseAddr(e.Host); err == nil {
		e.Addr = a.Unmap()
	}
	return e, nil
}

// DNSFacts is what resolving the MESH host found.
type DNSFacts struct {
	Host    string
	Literal bool // the host is an IP address: nothing to resolve
	IPv4    []netip.Addr
	IPv6    []netip.Addr
	// Resolvers are the name servers this machine is configured with, where
	// they can be read.
	Resolvers []string
	Took      time.Duration
	// LookupErr is the lookup's error (both families are asked at once).
	LookupErr error
}

// Addrs are every address found, IPv4 first.
func (d *DNSFacts) Addrs() []netip.Addr { return append(append([]netip.Addr{}, d.IPv4...), d.IPv6...) }

// Err is the resolution error when no address was found.
func (d *DNSFacts) Err() error {
	if len(d.IPv4)+len(d.IPv6) > 0 {
		return nil
	}
	if d.LookupErr != nil {
		return d.LookupErr
	}
	return fmt.Errorf("%s has no A or AAAA records", d.Host)
}

// DNS resolves the MESH host once: A and AAAA at the same time.
func (f *Facts) DNS(ctx context.Context) *DNSFacts {
	v := Observe(ctx, f, "dns", func(ctx context.Context) *DNSFacts {
		d := &DNSFacts{Resolvers: systemResolvers()}
		ep, err := f.Endpoint()
		if err != nil {
			d.LookupErr = err
			return d
		}
		d.Host = ep.Host
		if ep.Addr.IsValid() {
			d.Literal = true
			if ep.Addr.Is4() {
				d.IPv4 = []netip.Addr{ep.Addr}
			} else {
				d.IPv6 = []netip.Addr{ep.Addr}
			}
			return d
		}
		// One lookup for both families: Go asks A and AAAA together for
		// each candidate name and stops at the first name that answers, so
		// search domains in resolv.conf cost no extra round trips (two
		// separate lookups would retry AAAA under every search domain).
		start := time.Now()
		addrs, err := lookup(ctx, f.Options.Resolver, "ip", ep.Host)
		for _, a := range addrs {
			if a.Is4() {
				d.IPv4 = append(d.IPv4, a)
			} else {
				d.IPv6 = append(d.IPv6, a)
			}
		}
		d.LookupErr = err
		d.Took = time.Since(start)
		return d
	})
	if v == nil { // this check's time ran out while another made the observation
		return &DNSFacts{LookupErr: ctx.Err()}
	}
	return v
}

func lookup(ctx context.Context, r *net.Resolver, network, host string) ([]netip.Addr, error) {
	addrs, err := r.LookupNetIP(ctx, network, host)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, err
}

// systemResolvers reads the name servers of /etc/resolv.conf (Unix).
func systemResolvers() []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, fields[1])
		}
	}
	return out
}

// errAbandoned marks a connection attempt given up on because another
// address had already connected.
var errAbandoned = errors.New("not waited for: another address connected first")

// Dial is one TCP connection attempt.
type Dial struct {
	Addr string
	Took time.Duration
	Err  error
}

// TCPFacts is what connecting found.
type TCPFacts struct {
	// Route is how MESH traffic goes: direct, or through which proxy and
	// why; RouteErr is a proxy setting that cannot be used.
	Route    mesh.ProxyRoute
	RouteErr error
	// Proxy is the route's proxy, when there is one; then Dials are to the
	// proxy, Answer is its reply to CONNECT and ProxyErr why no tunnel.
	Proxy    *mesh.Proxy
	Answer   mesh.TunnelAnswer
	ProxyErr error
	Dials    []Dial
	// Connected is the address (or proxy tunnel) the TLS handshake uses.
	Connected string

	handoff
}

// Err is why nothing connected, or nil.
func (t *TCPFacts) Err() error {
	if t.Connected != "" {
		return nil
	}
	if t.RouteErr != nil {
		return t.RouteErr
	}
	if t.ProxyErr != nil {
		return t.ProxyErr
	}
	for _, d := range t.Dials {
		if d.Err != nil {
			return d.Err
		}
	}
	return errors.New("no address to connect to")
}

// handoff holds an open connection for its one next user (the TLS
// handshake takes the TCP connection, the HTTP transport the TLS one).
type handoff struct {
	mu   sync.Mutex
	conn net.Conn
}

func (h *handoff) take() net.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn
	h.conn = nil
	return c
}

// Route is how MESH traffic goes from here: the target's proxy settings
// (flags, profile, the environment's variables) judged for its host.
func (f *Facts) Route() (mesh.ProxyRoute, error) {
	ep, err := f.Endpoint()
	if err != nil {
		return mesh.ProxyRoute{}, err
	}
	return f.Target.Proxy.Route(ep.Scheme, ep.Host, ep.Port)
}

// TCP connects to the MESH host once: every resolved address at the same
// time (each attempt is named in the evidence), or to the proxy and through
// it with CONNECT.
func (f *Facts) TCP(ctx context.Context) *TCPFacts {
	v := Observe(ctx, f, "tcp", func(ctx context.Context) *TCPFacts {
		t := &TCPFacts{}
		ep, err := f.Endpoint()
		if err != nil {
			t.Dials = []Dial{{Err: err}}
			return t
		}
		t.Route, t.RouteErr = f.Route()
		if t.RouteErr != nil {
			return t
		}
		if t.Route.Proxy != nil {
			t.Proxy = t.Route.Proxy
			f.dialProxy(ctx, t, ep)
			return t
		}
		addrs := f.DNS(ctx).Addrs()
		t.Dials = make([]Dial, len(addrs))
		conns := make([]net.Conn, len(addrs))
		// Every address at once; once one connects, the others get a short
		// grace (to tell "all fine" from "one filtered") and are then
		// abandoned, so a filtered address does not hold the verdict back.
		dialCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		first := make(chan time.Duration, len(addrs))
		for i, a := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				addr := net.JoinHostPort(a.String(), ep.Port)
				start := time.Now()
				var d net.Dialer
				conns[i], t.Dials[i].Err = d.DialContext(dialCtx, "tcp", addr)
				t.Dials[i].Addr, t.Dials[i].Took = addr, time.Since(start)
				if t.Dials[i].Err == nil {
					first <- t.Dials[i].Took
				} else if ctx.Err() == nil && dialCtx.Err() != nil {
					t.Dials[i].Err = errAbandoned
				}
			}()
		}
		all := make(chan struct{})
		go func() { wg.Wait(); close(all) }()
		select {
		case <-all:
		case took := <-first:
			select {
			case <-all:
			case <-time.After(max(3*took, 300*time.Millisecond)):
				cancel()
				<-all
			}
		}
		for i, c := range conns {
			if c == nil {
				continue
			}
			if t.conn == nil {
				t.conn, t.Connected = c, t.Dials[i].Addr
			} else {
				c.Close()
			}
		}
		return t
	})
	if v == nil { // this check's time ran out while another made the observation
		return &TCPFacts{ProxyErr: ctx.Err()}
	}
	return v
}

// dialProxy connects to the proxy and asks it for a tunnel to ep.
func (f *Facts) dialProxy(ctx context.Context, t *TCPFacts, ep Endpoint) {
	start := time.Now()
	c, ans, err := t.Proxy.Tunnel(ctx, ep.HostPort())
	t.Answer = ans
	t.Dials = []Dial{{Addr: t.Proxy.Addr(), Took: time.Since(start)}}
	if err != nil {
		var te *mesh.TunnelError
		if errors.As(err, &te) && te.Kind == mesh.TunnelUnreachable {
			t.Dials[0].Err = te.Err
		}
		t.ProxyErr = err
		return
	}
	t.conn, t.Connected = c, "tunnel to "+ep.HostPort()+" via "+t.Proxy.Addr()
}

// TLSFacts is what the TLS handshake showed, kept even when it failed.
type TLSFacts struct {
	// Plain is true for an http:// target (a loopback sandbox): no TLS.
	Plain   bool
	Version uint16
	Cipher  uint16
	// Presented is the chain the server sent, leaf first.
	Presented []*x509.Certificate
	// Chains are the verified chains; VerifyErr why there are none.
	Chains    [][]*x509.Certificate
	VerifyErr error
	// CNOnly: the host name matched the certificate's CN because it has no
	// SANs (HSCN-style certificates, which NHS's own clients accept).
	CNOnly bool
	// Requested: the server asked for a client certificate, naming the CAs
	// it accepts.
	Requested     bool
	AcceptableCAs []string
	acceptableRaw [][]byte
	// ClientCert is the certificate we presented (nil if none).
	ClientCert  *x509.Certificate
	clientChain []*x509.Certificate
	// IdentityErr is why our client identity could not be loaded.
	IdentityErr error
	// BundleErr is why the CA bundle could not be read: then there is no
	// handshake, since nothing could be verified.
	BundleErr error
	// Err is the handshake error, nil when it completed.
	Err  error
	Took time.Duration

	config *tls.Config // for later connections: verification enforced
	handoff
}

// Trusted reports whether the server's certificate verified.
func (t *TLSFacts) Trusted() bool { return t.Err == nil && t.VerifyErr == nil && !t.Plain }

// TLS makes the one TLS handshake over the TCP connection. Verification is
// done by hand so that the presented chain, the verified chains and the
// reason for a failure are all kept; the handshake goes on after a failed
// verification so that what the server thinks of our certificate is seen
// too, but nothing is sent over a connection to an unverified server.
func (f *Facts) TLS(ctx context.Context) *TLSFacts {
	v := Observe(ctx, f, "tls", func(ctx context.Context) *TLSFacts {
		t := &TLSFacts{}
		ep, err := f.Endpoint()
		if err != nil {
			t.Err = err
			return t
		}
		if ep.Scheme == "http" {
			t.Plain = true
			return t
		}
		var roots *x509.CertPool // nil: the system's roots
		if f.Target.CABundle != "" {
			if roots, err = pki.LoadPool(f.Target.CABundle); err != nil {
				t.BundleErr = err
				return t
			}
		}
		// The identity the keystore checks judged, loaded once for the run;
		// without one, the server is still looked at, with no certificate.
		base := &tls.Config{RootCAs: roots}
		switch store, entry, err := f.ClientIdentity(ctx); {
		case err != nil:
			t.IdentityErr = err
		case store == nil: // none configured
		case !entry.KeyMatches():
			t.IdentityErr = fmt.Errorf("the private key of %q does not belong to its certificate", entry.Alias)
		default:
			base.Certificates = []tls.Certificate{entry.TLSCertificate()}
		}
		t.config = f.tlsConfig(base, ep, t)
		tcp := f.TCP(ctx)
		conn := tcp.take()
		if conn == nil {
			t.Err = fmt.Errorf("no connection: %w", tcp.Err())
			return t
		}
		start := time.Now()
		tc := tls.Client(conn, t.config)
		t.Err = tc.HandshakeContext(ctx)
		t.Took = time.Since(start)
		if t.Err != nil {
			conn.Close()
			return t
		}
		st := tc.ConnectionState()
		t.Version, t.Cipher = st.Version, st.CipherSuite
		t.conn = tc
		return t
	})
	if v == nil { // this check's time ran out while another made the observation
		return &TLSFacts{Err: ctx.Err()}
	}
	return v
}

// tlsConfig is base with the recording and verification of this run.
func (f *Facts) tlsConfig(base *tls.Config, ep Endpoint, t *TLSFacts) *tls.Config {
	cfg := base.Clone()
	cfg.ServerName = ep.Host
	if ep.Addr.IsValid() {
		cfg.ServerName = ""
	}
	cfg.InsecureSkipVerify = true // verified below, keeping the facts
	cfg.NextProtos = []string{"http/1.1"}
	// Go defaults to TLS 1.2 and later, as MESH requires; an older server
	// is recognised from the error.
	cfg.MinVersion = tls.VersionTLS12
	roots := base.RootCAs
	certs := base.Certificates
	cfg.Certificates = nil
	if len(certs) > 0 {
		c := certs[0]
		t.ClientCert = c.Leaf
		for _, der := range c.Certificate[1:] {
			if x, err := x509.ParseCertificate(der); err == nil {
				t.clientChain = append(t.clientChain, x)
			}
		}
	}
	first := true
	var once sync.Mutex
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		t.Requested = true
		t.acceptableRaw = cri.AcceptableCAs
		for _, raw := range cri.AcceptableCAs {
			t.AcceptableCAs = append(t.AcceptableCAs, dnString(raw))
		}
		if len(certs) == 0 {
			return &tls.Certificate{}, nil
		}
		// Like NHS's clients, present our certificate whatever CAs the
		// server names: a mismatch is then the server's clear refusal.
		return &certs[0], nil
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		once.Lock()
		defer once.Unlock()
		chains, cnOnly, err := pki.VerifyServer(cs.PeerCertificates, roots, ep.Host, f.Now())
		if first {
			first = false
			t.Presented, t.Chains, t.CNOnly, t.VerifyErr = cs.PeerCertificates, chains, cnOnly, err
			return nil
		}
		return err
	}
	return cfg
}

func dnString(raw []byte) string {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return fmt.Sprintf("(unreadable name, %d bytes)", len(raw))
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n.String()
}

// ExchangeFacts is the server's answer to the MESH handshake (POST
// /messageexchange/{mailbox}), the one HTTP exchange of a check run.
type ExchangeFacts struct {
	// NotSent says why no request was made (the server was not trusted, no
	// connection); empty when one was.
	NotSent string
	// Authenticated: an NHSMESH token went with the request.
	Authenticated bool
	Status        int
	Header        http.Header
	// Body is the start of the answer, for naming what answered.
	Body []byte
	// Err is a failure below HTTP: an alert, a reset, a timeout.
	Err error
	// Sent and Received are local clock readings around the exchange.
	Sent, Received time.Time

	transport *http.Transport
}

// Exchange makes the MESH handshake over the connection the TLS check
// opened, when the server was trusted. The token is signed only when the
// mailbox, password and shared key are all there; otherwise the request
// still goes (a TLS 1.3 server's verdict on our certificate only shows on
// the first read), unsigned.
func (f *Facts) Exchange(ctx context.Context) *ExchangeFacts {
	v := Observe(ctx, f, "exchange", func(ctx context.Context) *ExchangeFacts {
		x := &ExchangeFacts{}
		ep, err := f.Endpoint()
		if err != nil {
			x.NotSent = err.Error()
			return x
		}
		t := f.TLS(ctx)
		switch {
		case t.Plain:
		case t.BundleErr != nil:
			x.NotSent = "the CA bundle could not be read, so the server could not be verified"
			return x
		case t.Err != nil:
			x.NotSent = "the TLS handshake failed"
			return x
		case t.VerifyErr != nil:
			x.NotSent = "the server's certificate is not trusted, so nothing was sent to it"
			return x
		}
		x.transport = f.transport(ep, t)
		creds := f.Target.Credentials
		mailbox := creds.Mailbox
		if mailbox == "" {
			mailbox = "_"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL.String()+mesh.PathPrefix+"/"+url.PathEscape(mailbox), nil)
		if err != nil {
			x.NotSent = err.Error()
			return x
		}
		for k, v := range handshakeHeaders(f.Options.ClientVersion) {
			req.Header[k] = v
		}
		if creds.Mailbox != "" && creds.Password != "" && creds.SharedKey != "" {
			req.Header.Set(mesh.HeaderAuthorization, mesh.NewToken(creds, f.Now()))
			x.Authenticated = true
		}
		x.Sent = f.Now()
		noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := (&http.Client{Transport: x.transport, CheckRedirect: noRedirects}).Do(req)
		x.Received = f.Now()
		if err != nil {
			x.Err = err
			return x
		}
		defer resp.Body.Close()
		x.Status, x.Header = resp.StatusCode, resp.Header
		x.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 256<<10))
		return x
	})
	if v == nil { // this check's time ran out while another made the observation
		return &ExchangeFacts{NotSent: "time ran out waiting for the answer to the handshake"}
	}
	return v
}

// Client is a mesh.Client that reuses the exchange's connection, for checks
// that ask MESH more (the inbox). nil when the exchange was not made.
func (x *ExchangeFacts) Client(f *Facts) (*mesh.Client, error) {
	if x.transport == nil {
		return nil, errors.New("no connection to MESH")
	}
	base, err := f.Target.BaseURL()
	if err != nil {
		return nil, err
	}
	return mesh.NewClient(mesh.Config{
		BaseURL:       base,
		Credentials:   f.Target.Credentials,
		Transport:     x.transport,
		MaxRetries:    -1,
		Timeout:       f.Options.Timeout,
		Clock:         f.Options.Now,
		ClientVersion: f.Options.ClientVersion,
	})
}

// transport hands out the observed connection first, then dials anew
// (through the proxy when there is one) with verification enforced.
func (f *Facts) transport(ep Endpoint, t *TLSFacts) *http.Transport {
	tcp := f.TCP(context.Background())
	dialRaw := func(ctx context.Context) (net.Conn, error) {
		if tcp.Proxy != nil {
			fresh := &TCPFacts{Proxy: tcp.Proxy}
			f.dialProxy(ctx, fresh, ep)
			if c := fresh.take(); c != nil {
				return c, nil
			}
			return nil, fresh.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ep.HostPort())
	}
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c := tcp.take(); c != nil {
				return c, nil
			}
			return dialRaw(ctx)
		},
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c := t.take(); c != nil {
				return c, nil
			}
			raw, err := dialRaw(ctx)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(raw, t.config)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return tc, nil
		},
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
}

// handshakeHeaders are mesh.Client's handshake headers, with the Accept
// and User-Agent it adds to every request.
func handshakeHeaders(clientVersion string) http.Header {
	h := mesh.HandshakeHeaders(clientVersion)
	h.Set("Accept", mesh.AcceptV2)
	h.Set("User-Agent", mesh.UserAgent())
	return h
}

// Close releases what the observations hold open.
func (f *Facts) Close() {
	f.mu.Lock()
	var closers []func()
	for _, o := range f.obs {
		select {
		case <-o.done:
		default:
			continue
		}
		switch v := o.value.(type) {
		case *TCPFacts:
			if c := v.take(); c != nil {
				closers = append(closers, func() { c.Close() })
			}
		case *TLSFacts:
			if c := v.take(); c != nil {
				closers = append(closers, func() { c.Close() })
			}
		case *ExchangeFacts:
			if v.transport != nil {
				closers = append(closers, v.transport.CloseIdleConnections)
			}
		}
	}
	f.mu.Unlock()
	for _, c := range closers {
		c()
	}
}
