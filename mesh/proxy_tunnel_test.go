package mesh

import (
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/go-ntlmssp"
)

func TestTunnelErrorsSayWhatHappened(t *testing.T) {
	const p = "http://alice@proxy.trust:3128"
	for _, tt := range []struct {
		err  *TunnelError
		want string
	}{
		{&TunnelError{Proxy: p, Kind: TunnelUnreachable, Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "proxy.trust", Err: "no such host", IsNotFound: true}}}, "the proxy's name proxy.trust does not resolve here"},
		{&TunnelError{Proxy: p, Kind: TunnelUnreachable, Err: errors.New("connection refused")}, "cannot be reached"},
		{&TunnelError{Proxy: p, Kind: TunnelTLS, NotTLS: true}, "speaks plain HTTP, but its URL says https://"},
		{&TunnelError{Proxy: p, Kind: TunnelAuthRequired, Answer: TunnelAnswer{Status: "407 Proxy Authentication Required"}}, "wants authentication"},
		{&TunnelError{Proxy: p, Kind: TunnelAuthUnsupported, Answer: TunnelAnswer{Schemes: []string{"Negotiate"}}}, "accepts only Negotiate"},
		{&TunnelError{Proxy: p, Kind: TunnelAuthRefused, Answer: TunnelAnswer{Auth: "NTLM", Status: "407 x"}}, "refused the credentials (NTLM authentication)"},
		{&TunnelError{Proxy: p, Target: "mesh:443", Kind: TunnelRefused, Answer: TunnelAnswer{Status: "403 Forbidden"}}, "refused the tunnel to mesh:443: 403 Forbidden"},
	} {
		if got := tt.err.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.err.Kind, got, tt.want)
		}
	}
}

func TestAuthSchemes(t *testing.T) {
	got := authSchemes([]string{`Basic realm="trust, proxy"`, "NTLM", `Negotiate, Digest realm="x", nonce="y"`})
	if want := []string{"Basic", "NTLM", "Negotiate", "Digest"}; !slices.Equal(got, want) {
		t.Errorf("schemes %q, want %q", got, want)
	}
	for offered, want := range map[string]string{"": "Basic", "Basic,NTLM": "NTLM", "Negotiate,Basic": "Basic", "Negotiate": "Negotiate", "Digest": ""} {
		var o []string
		if offered != "" {
			o = strings.Split(offered, ",")
		}
		if got := chooseScheme(o); got != want {
			t.Errorf("offered %q: chose %q, want %q", offered, got, want)
		}
	}
}

// TestNormalizeChallenge: the challenge Squid's ntlm_fake_auth sends (its
// target name points outside the message) is answered.
func TestNormalizeChallenge(t *testing.T) {
	squid, _ := hex.DecodeString("4e544c4d535350000200000009000900aeaaaaaa018288a033acd6fdecf305210000000000003a00574f524b47524f5550")
	if _, err := ntlmssp.NewAuthenticateMessage(squid, "alice", "pw", nil); err == nil {
		t.Fatal("the library reads the raw challenge: normalizeChallenge may be unnecessary")
	}
	if _, err := ntlmssp.NewAuthenticateMessage(normalizeChallenge(squid), "alice", "pw", nil); err != nil {
		t.Errorf("normalized: %v", err)
	}
	if _, err := ntlmssp.NewAuthenticateMessage(normalizeChallenge(squid[:32]), "alice", "pw", nil); err != nil {
		t.Errorf("a 32-byte challenge: %v", err)
	}
}

// A client's error through a proxy that refuses says what the proxy did,
// without Go's "proxyconnect tcp:" in front, and stays a *TunnelError.
func TestClientErrorThroughRefusingProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			c.Close()
		}
	}()
	c, err := NewClient(Config{BaseURL: "https://mesh.example:443", Credentials: Credentials{Mailbox: "X26ABC1", Password: "pw", SharedKey: "k"},
		ProxySettings: &ProxySettings{URL: "http://" + ln.Addr().String()}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Handshake(t.Context())
	var te *TunnelError
	if !errors.As(err, &te) || te.Kind != TunnelRefused {
		t.Fatalf("err = %v, want a *TunnelError (refused)", err)
	}
	if msg := err.Error(); strings.Contains(msg, "proxyconnect") || !strings.Contains(msg, "refused the tunnel to mesh.example:443: 403 Forbidden") {
		t.Errorf("err = %q", msg)
	}
}
