package mesh

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/go-ntlmssp"
)

// TunnelAnswer is what a proxy answered to CONNECT: kept whether or not a
// tunnel opened, for the evidence.
type TunnelAnswer struct {
	// Status is the last status line ("407 Proxy Authentication Required");
	// Code its number.
	Status string
	Code   int
	// Schemes are the authentication schemes the proxy offered
	// (Proxy-Authenticate), in its order: "Basic", "NTLM", "Negotiate".
	Schemes []string
	// Auth is the scheme meshdoctor authenticated with, "" when none.
	Auth string
	// Server and Via name the proxy product when it says.
	Server, Via string
	// Body is the start of a refusal page (a policy's block page).
	Body []byte
	// ProxyError is the error code a Squid names in X-Squid-Error
	// (ERR_DNS_FAIL, ERR_CONNECT_FAIL, ERR_ACCESS_DENIED): only a code of
	// that shape is kept, never free text.
	ProxyError string
}

// TunnelFailure names why no tunnel opened.
type TunnelFailure string

const (
	// TunnelUnreachable: no TCP connection to the proxy (its name does not
	// resolve, nothing listens, filtered).
	TunnelUnreachable TunnelFailure = "unreachable"
	// TunnelTLS: the TLS handshake with an https:// proxy failed.
	TunnelTLS TunnelFailure = "tls"
	// TunnelAuthRequired: 407 and no credentials to give.
	TunnelAuthRequired TunnelFailure = "auth-required"
	// TunnelAuthUnsupported: 407 offering only schemes meshdoctor cannot
	// answer (Digest; Negotiate that takes no NTLM inside: Kerberos).
	TunnelAuthUnsupported TunnelFailure = "auth-unsupported"
	// TunnelAuthRefused: credentials given, and 407 again.
	TunnelAuthRefused TunnelFailure = "auth-refused"
	// TunnelRefused: any other refusal (403 policy, 502 upstream).
	TunnelRefused TunnelFailure = "refused"
	// TunnelProtocol: the proxy's answer could not be read as HTTP.
	TunnelProtocol TunnelFailure = "protocol"
)

// TunnelError is a CONNECT that did not give a tunnel. It names the proxy
// without its password.
type TunnelError struct {
	Proxy  string // scheme://user@host:port
	Target string
	Kind   TunnelFailure
	Answer TunnelAnswer
	// NotTLS: an https:// proxy answered in plain HTTP.
	NotTLS bool
	Err    error
}

func (e *TunnelError) Error() string {
	switch e.Kind {
	case TunnelUnreachable:
		var dns *net.DNSError
		if errors.As(e.Err, &dns) {
			return fmt.Sprintf("the proxy's name %s does not resolve here", dns.Name)
		}
		return fmt.Sprintf("the proxy %s cannot be reached: %v", e.Proxy, e.Err)
	case TunnelTLS:
		if e.NotTLS {
			return fmt.Sprintf("the proxy %s speaks plain HTTP, but its URL says https://", e.Proxy)
		}
		return fmt.Sprintf("TLS to the proxy %s failed: %v", e.Proxy, e.Err)
	case TunnelAuthRequired:
		return fmt.Sprintf("the proxy %s wants authentication (%s) and none was given", e.Proxy, e.Answer.Status)
	case TunnelAuthUnsupported:
		return fmt.Sprintf("the proxy %s accepts only %s authentication, which meshdoctor cannot give (Kerberos; NTLM is not taken)", e.Proxy, strings.Join(e.Answer.Schemes, ", "))
	case TunnelAuthRefused:
		return fmt.Sprintf("the proxy %s refused the credentials (%s authentication): %s", e.Proxy, e.Answer.Auth, e.Answer.Status)
	case TunnelRefused:
		return fmt.Sprintf("the proxy %s refused the tunnel to %s: %s", e.Proxy, e.Target, e.Answer.Status)
	}
	return fmt.Sprintf("the proxy %s: %v", e.Proxy, e.Err)
}

func (e *TunnelError) Unwrap() error { return e.Err }

// maxRefusalBody bounds how much of a proxy's refusal page is read.
const maxRefusalBody = 64 << 10

// Tunnel connects to the proxy and asks it (CONNECT) for a tunnel to
// target (host:port). When the proxy asks for authentication and
// credentials are there, it answers with NTLM when the proxy offers it
// (Windows sign-in, with a maintained NTLMv2 implementation) and otherwise
// Basic; credentials are never sent to a proxy that did not ask. The answer
// is returned whatever happened; a failure is a *TunnelError.
func (p *Proxy) Tunnel(ctx context.Context, target string) (net.Conn, TunnelAnswer, error) {
	var ans TunnelAnswer
	fail := func(kind TunnelFailure, err error) (net.Conn, TunnelAnswer, error) {
		return nil, ans, &TunnelError{Proxy: p.String(), Target: target, Kind: kind, Answer: ans, Err: err}
	}
	conn, br, err := p.dial(ctx)
	if err != nil {
		var te *TunnelError
		if errors.As(err, &te) {
			te.Target = target
			return nil, ans, te
		}
		return fail(TunnelUnreachable, err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer func() { stop() }() // the stop of the connection in use, after a re-dial too
	resp, err := p.connect(conn, br, target, "", &ans)
	if err != nil {
		return fail(TunnelProtocol, err)
	}
	if resp.StatusCode == http.StatusProxyAuthRequired {
		ans.Schemes = authSchemes(resp.Header.Values("Proxy-Authenticate"))
		if !p.HasCredentials() {
			return fail(TunnelAuthRequired, nil)
		}
		scheme := chooseScheme(ans.Schemes)
		if scheme == "" {
			return fail(TunnelAuthUnsupported, nil)
		}
		ans.Auth = scheme
		if resp.Close {
			// The proxy closes after a 407: authenticate on a new
			// connection (NTLM needs its two steps on one).
			conn.Close()
			if conn, br, err = p.dial(ctx); err != nil {
				return fail(TunnelUnreachable, err)
			}
			stop()
			stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
		}
		switch scheme {
		case "NTLM", "Negotiate":
			var challenged bool
			resp, challenged, err = p.ntlm(conn, br, target, scheme, &ans)
			if err == nil && !challenged && scheme == "Negotiate" && resp.StatusCode == http.StatusProxyAuthRequired {
				// No NTLM inside Negotiate: the proxy wants Kerberos.
				ans.Auth = ""
				return fail(TunnelAuthUnsupported, nil)
			}
		default:
			resp, err = p.connect(conn, br, target, "Basic "+base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.password)), &ans)
		}
		if err != nil {
			return fail(TunnelProtocol, err)
		}
		// tinyproxy answers refused credentials with 401, not 407.
		if resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusUnauthorized {
			return fail(TunnelAuthRefused, nil)
		}
	}
	if resp.StatusCode/100 != 2 {
		return fail(TunnelRefused, nil)
	}
	if br.Buffered() > 0 {
		return fail(TunnelProtocol, errors.New("the proxy sent data before the tunnel was used"))
	}
	ok = true
	return conn, ans, nil
}

// dial opens the connection to the proxy itself (TLS for an https:// one).
func (p *Proxy) dial(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		return nil, nil, err
	}
	if p.Scheme == "https" {
		tc := tls.Client(c, &tls.Config{ServerName: p.Host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			var rh tls.RecordHeaderError
			return nil, nil, &TunnelError{Proxy: p.String(), Kind: TunnelTLS, NotTLS: errors.As(err, &rh), Err: err}
		}
		c = tc
	}
	return c, bufio.NewReader(c), nil
}

// connect sends one CONNECT and reads the answer into ans; a refusal's
// body is read (so the connection can be used again) and its start kept.
func (p *Proxy) connect(c net.Conn, br *bufio.Reader, target, auth string, ans *TunnelAnswer) (*http.Response, error) {
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\nProxy-Connection: Keep-Alive\r\nUser-Agent: meshdoctor\r\n"
	if auth != "" {
		req += "Proxy-Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("read the proxy's answer to CONNECT: %w", err)
	}
	ans.Status, ans.Code = resp.Status, resp.StatusCode
	ans.Server, ans.Via = firstNonEmpty(resp.Header.Get("Server"), ans.Server), firstNonEmpty(resp.Header.Get("Via"), ans.Via)
	if f := strings.Fields(resp.Header.Get("X-Squid-Error")); len(f) > 0 && squidErrorCode.MatchString(f[0]) {
		ans.ProxyError = f[0]
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalBody))
		if len(body) > 0 {
			ans.Body = body
		}
		resp.Body.Close()
	}
	return resp, nil
}

// squidErrorCode is the shape of Squid's error names (ERR_DNS_FAIL).
var squidErrorCode = regexp.MustCompile(`^ERR_[A-Z0-9_]{1,40}$`)

// ntlm runs NTLM's negotiate/challenge/authenticate over one connection,
// under the scheme NTLM, or Negotiate (which Windows proxies accept NTLM
// tokens in); challenged says whether the proxy answered with a challenge.
func (p *Proxy) ntlm(c net.Conn, br *bufio.Reader, target, scheme string, ans *TunnelAnswer) (resp *http.Response, challenged bool, err error) {
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return nil, false, err
	}
	resp, err = p.connect(c, br, target, scheme+" "+base64.StdEncoding.EncodeToString(neg), ans)
	if err != nil || resp.StatusCode != http.StatusProxyAuthRequired {
		return resp, false, err
	}
	var challenge []byte
	for _, h := range resp.Header.Values("Proxy-Authenticate") {
		if v, ok := strings.CutPrefix(h, scheme+" "); ok {
			challenge, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		}
	}
	if challenge == nil || resp.Close {
		return resp, false, nil // no challenge: the credentials are refused as they stand
	}
	challenge = normalizeChallenge(challenge)
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, p.User, p.password, nil)
	if err != nil {
		return nil, true, fmt.Errorf("NTLM: %w", err)
	}
	resp, err = p.connect(c, br, target, scheme+" "+base64.StdEncoding.EncodeToString(auth), ans)
	return resp, true, err
}

// authSchemes are the schemes of Proxy-Authenticate values, as the proxy
// named them.
func authSchemes(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range splitUnquoted(v, ',') {
			// "Basic realm=x, NTLM": a scheme is a token not followed by '='.
			f := strings.Fields(strings.TrimSpace(part))
			if len(f) == 0 || strings.Contains(f[0], "=") {
				continue
			}
			out = append(out, f[0])
		}
	}
	return out
}

// chooseScheme picks the scheme to answer: NTLM over Basic (Basic sends the
// password as it is), then Negotiate (answered with NTLM tokens, as Windows
// clients fall back); Basic when the proxy named none (as curl does); ""
// when none of them is offered.
func chooseScheme(offered []string) string {
	has := func(s string) bool {
		for _, o := range offered {
			if strings.EqualFold(o, s) {
				return true
			}
		}
		return false
	}
	switch {
	case len(offered) == 0:
		return "Basic"
	case has("NTLM"):
		return "NTLM"
	case has("Basic"):
		return "Basic"
	case has("Negotiate"):
		return "Negotiate"
	}
	return ""
}

// Dialer is the dial function for traffic to base (https://host:port): one
// that opens a tunnel through the route's proxy, or nil when the route is
// direct. The tunnel is dialled here, not by http.Transport's Proxy, so
// that NTLM can take its two steps on one connection.
func (s ProxySettings) Dialer(base string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	route, err := s.RouteTo(base)
	if err != nil || route.Proxy == nil {
		return nil, err
	}
	p := route.Proxy
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, _, err := p.Tunnel(ctx, addr)
		if err != nil {
			// "proxyconnect": nothing reached MESH, so a retry is safe.
			return nil, &net.OpError{Op: "proxyconnect", Net: "tcp", Err: err}
		}
		return c, nil
	}, nil
}

// normalizeChallenge makes an NTLM CHALLENGE message readable by the
// library: an older-style one without the target information fields
// (MS-NLMP allows it) gets them, empty; a name or target-information field
// that points outside the message (Squid's ntlm_fake_auth sends one) is
// emptied. Neither is needed for the NTLMv2 answer.
func normalizeChallenge(m []byte) []byte {
	if len(m) < 48 {
		m = append(m, make([]byte, 48-len(m))...)
	}
	m = append([]byte{}, m...)
	for _, at := range []int{12, 40} { // TargetNameFields, TargetInfoFields
		n := int(binary.LittleEndian.Uint16(m[at:]))
		off := int(binary.LittleEndian.Uint32(m[at+4:]))
		if n == 0 || off < 0 || off+n > len(m) {
			clear(m[at : at+8])
		}
	}
	return m
}

// splitUnquoted splits s at sep where sep is not inside a quoted string
// (realm="trust, proxy").
func splitUnquoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
