// Package proxytest has in-process doubles of what stands between a trust's
// MESH client and MESH: an HTTP CONNECT proxy (Basic, NTLM-only or
// Negotiate-only authentication, a refusing policy, TLS inspection that
// re-signs with its own CA) and firewalls that reset or stall the TLS
// handshake. Loopback only; for tests.
package proxytest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/meshdoctor/meshdoctor/pki"
)

// Config says how the proxy behaves.
type Config struct {
	// Schemes are the authentication schemes offered in
	// Proxy-Authenticate; none: no authentication asked.
	Schemes []string
	// User and Password are the accepted credentials (Basic); NTLM accepts
	// User (the double checks the user name of the NTLM answer, not the
	// password's proof).
	User, Password string
	// NTLMInNegotiate: a Negotiate-only proxy that takes NTLM tokens in
	// it (as Windows proxies do); without it, Negotiate means Kerberos.
	NTLMInNegotiate bool
	// Silent: read CONNECT and never answer (a proxy whose own way to
	// the target is dropped).
	Silent bool
	// Status refuses every CONNECT with this status and Body, and these
	// header lines ("X-Squid-Error: ERR_DNS_FAIL 0\r\n").
	Status int
	Body   string
	Header string
	// Intercept: decrypt TLS (as Squid ssl_bump, Zscaler): present a
	// certificate for the host signed by this CA, ask for no client
	// certificate, and open its own TLS to the server (with none).
	Intercept *pki.Hierarchy
	// CloseAfter407 closes the connection after asking for
	// authentication (Connection: close), as some proxies do.
	CloseAfter407 bool
	// Server is the Server header of the proxy's answers.
	Server string
	// RefuseBasicWith is the status for Basic credentials given and
	// refused (default 407): tinyproxy answers 401.
	RefuseBasicWith int
}

// Proxy is a running double.
type Proxy struct {
	Addr    string
	Tunnels atomic.Int32
	// Refused counts the credentials given and refused.
	Refused atomic.Int32
	cfg     Config
	mu      sync.Mutex
	certs   map[string]*tls.Certificate
}

// Start runs a proxy on loopback until the test ends.
func Start(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p := &Proxy{cfg: cfg, certs: map[string]*tls.Certificate{}}
	p.Addr = Serve(t, p.handle)
	return p
}

// Serve accepts loopback connections with handle until the test ends.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

func (p *Proxy) answer(c net.Conn, status int, hdr string, body string) {
	if p.cfg.Server != "" {
		hdr += "Server: " + p.cfg.Server + "\r\n"
	}
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), hdr, len(body), body)
}

func (p *Proxy) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			if err != nil && err != io.EOF {
				// As Squid answers what is not HTTP (a TLS ClientHello).
				p.answer(c, http.StatusBadRequest, "Connection: close\r\n", "")
			}
			return
		}
		if p.cfg.Silent {
			io.Copy(io.Discard, c)
			return
		}
		if p.cfg.Status != 0 {
			p.answer(c, p.cfg.Status, "Content-Type: text/html\r\n"+p.cfg.Header, p.cfg.Body)
			return
		}
		if len(p.cfg.Schemes) > 0 {
			auth := req.Header.Get("Proxy-Authorization")
			ok, challenge := p.authorize(auth)
			if !ok && auth != "" && challenge == "" {
				p.Refused.Add(1)
			}
			if !ok {
				hdr := ""
				if challenge != "" {
					hdr = "Proxy-Authenticate: " + challenge + "\r\n"
				} else {
					for _, s := range p.cfg.Schemes {
						if s == "Basic" {
							s += ` realm="trust proxy"`
						}
						hdr += "Proxy-Authenticate: " + s + "\r\n"
					}
				}
				if p.cfg.CloseAfter407 {
					hdr += "Connection: close\r\n"
				}
				if strings.HasPrefix(auth, "Basic ") && p.cfg.RefuseBasicWith != 0 {
					p.answer(c, p.cfg.RefuseBasicWith, hdr, "<html><title>Unauthorized</title></html>")
					return
				}
				p.answer(c, http.StatusProxyAuthRequired, hdr, "<html><title>407 Proxy Authentication Required</title></html>")
				if p.cfg.CloseAfter407 {
					return
				}
				continue
			}
		}
		p.tunnel(c, br, req.Host)
		return
	}
}

// authorize judges a Proxy-Authorization value; challenge is the NTLM
// challenge to answer a negotiate message with.
func (p *Proxy) authorize(auth string) (ok bool, challenge string) {
	scheme, value, _ := strings.Cut(auth, " ")
	has := func(s string) bool {
		for _, o := range p.cfg.Schemes {
			if strings.EqualFold(o, s) {
				return true
			}
		}
		return false
	}
	raw, _ := base64.StdEncoding.DecodeString(value)
	switch {
	case scheme == "Basic" && has("Basic"):
		return string(raw) == p.cfg.User+":"+p.cfg.Password, ""
	case (scheme == "NTLM" && has("NTLM") || scheme == "Negotiate" && has("Negotiate") && p.cfg.NTLMInNegotiate) && len(raw) >= 12 && string(raw[:8]) == "NTLMSSP\x00":
		switch binary.LittleEndian.Uint32(raw[8:12]) {
		case 1:
			return false, scheme + " " + base64.StdEncoding.EncodeToString(ntlmChallenge())
		case 3:
			_, user, found := strings.Cut(p.cfg.User, `\`)
			if !found {
				user = p.cfg.User
			}
			return ntlmUser(raw) == user, ""
		}
	}
	return false, ""
}

// ntlmChallenge is a minimal NTLM CHALLENGE message (MS-NLMP 2.2.1.2):
// NTLM, Unicode, target info with a NetBIOS domain name.
func ntlmChallenge() []byte {
	name := utf16le("TRUST")
	info := append(append([]byte{2, 0, byte(len(name)), 0}, name...), 0, 0, 0, 0) // MsvAvNbDomainName, MsvAvEOL
	m := make([]byte, 48)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 2)
	binary.LittleEndian.PutUint16(m[12:], uint16(len(name)))
	binary.LittleEndian.PutUint16(m[14:], uint16(len(name)))
	binary.LittleEndian.PutUint32(m[16:], 48)
	binary.LittleEndian.PutUint32(m[20:], 0x00000001|0x00000200|0x00800000|0x00080000) // UNICODE|NTLM|TARGET_INFO|EXTENDED_SESSIONSECURITY
	copy(m[24:32], "challeng")
	binary.LittleEndian.PutUint16(m[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(m[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(m[44:], uint32(48+len(name)))
	return append(append(m, name...), info...)
}

// ntlmUser is the user name of an AUTHENTICATE message.
func ntlmUser(m []byte) string {
	if len(m) < 44 {
		return ""
	}
	n, off := int(binary.LittleEndian.Uint16(m[36:])), int(binary.LittleEndian.Uint32(m[40:]))
	if off+n > len(m) || n%2 != 0 {
		return ""
	}
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(m[off+2*i:])
	}
	return string(utf16.Decode(u))
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	return b
}

func (p *Proxy) tunnel(c net.Conn, br *bufio.Reader, target string) {
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		p.answer(c, http.StatusBadGateway, "", "")
		return
	}
	defer up.Close()
	p.Tunnels.Add(1)
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	c.SetDeadline(time.Time{})
	var client net.Conn = &bufConn{Conn: c, r: br}
	if p.cfg.Intercept != nil {
		host, _, _ := net.SplitHostPort(target)
		cert, err := p.certFor(host)
		if err != nil {
			return
		}
		tc := tls.Server(client, &tls.Config{Certificates: []tls.Certificate{*cert}})
		if err := tc.Handshake(); err != nil {
			return
		}
		// The inspecting device's own TLS to the server: it has no client
		// certificate to give.
		ut := tls.Client(up, &tls.Config{InsecureSkipVerify: true, ServerName: host})
		if err := ut.Handshake(); err != nil {
			return
		}
		client, up = tc, ut
	}
	go func() { io.Copy(up, client); up.Close() }()
	io.Copy(client, up)
}

func (p *Proxy) certFor(host string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.certs[host]; c != nil {
		return c, nil
	}
	opts := pki.LeafOptions{CommonName: host, DNSNames: []string{host}}
	if ip := net.ParseIP(host); ip != nil {
		opts.DNSNames, opts.IPs = nil, []net.IP{ip}
	}
	kp, err := p.cfg.Intercept.IssueServer(opts)
	if err != nil {
		return nil, err
	}
	c := kp.TLSCertificate(p.cfg.Intercept.SubCA.Cert)
	p.certs[host] = &c
	return &c, nil
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// ResetAfterClientHello is a firewall that filters on the server name: it
// reads the ClientHello and resets the connection. Server names seen are
// sent on seen.
func ResetAfterClientHello(t testing.TB, seen chan<- string) string {
	return Serve(t, func(c net.Conn) {
		defer c.Close()
		hello := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.Read(hello)
		if seen != nil {
			select {
			case seen <- sni(hello[:n]):
			default:
			}
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST
		}
	})
}

// StallAfterClientCertificate is a TLS 1.2 server that shows its
// certificate, asks for ours, and then holds the handshake (never sends its
// Finished): a device that stalls once the client's certificate passed.
func StallAfterClientCertificate(t testing.TB, cert tls.Certificate) string {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12, ClientAuth: tls.RequireAnyClientCert,
		VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { <-done; return nil }}
	return Serve(t, func(c net.Conn) {
		defer c.Close()
		tls.Server(c, cfg).Handshake()
	})
}

// StallHandshake is a path that lets the ClientHello through and then
// holds the handshake: nothing ever comes back.
func StallHandshake(t testing.TB) string {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return Serve(t, func(c net.Conn) {
		defer c.Close()
		go io.Copy(io.Discard, c)
		<-done
	})
}

// sni is the server name of a ClientHello record, "" when it has none.
func sni(b []byte) string {
	// record(5) handshake(4) version(2) random(32)
	i := 5 + 4 + 2 + 32
	if len(b) < i+1 {
		return ""
	}
	i += 1 + int(b[i]) // session id
	if len(b) < i+2 {
		return ""
	}
	i += 2 + int(binary.BigEndian.Uint16(b[i:])) // cipher suites
	if len(b) < i+1 {
		return ""
	}
	i += 1 + int(b[i]) // compression
	if len(b) < i+2 {
		return ""
	}
	end := i + 2 + int(binary.BigEndian.Uint16(b[i:]))
	for i += 2; i+4 <= end && i+4 <= len(b); {
		typ, n := binary.BigEndian.Uint16(b[i:]), int(binary.BigEndian.Uint16(b[i+2:]))
		if typ == 0 && i+9 <= len(b) {
			l := int(binary.BigEndian.Uint16(b[i+7:]))
			if i+9+l <= len(b) {
				return string(b[i+9 : i+9+l])
			}
		}
		i += 4 + n
	}
	return ""
}
