package checks

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// connectProxy is a loopback HTTP proxy that answers CONNECT with status;
// with 200 it tunnels to the requested address.
func connectProxy(t *testing.T, status int, tunnels *atomic.Int32) string {
	t.Helper()
	return listen(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil || req.Method != http.MethodConnect {
			return
		}
		if status != http.StatusOK {
			fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n\r\n", status, http.StatusText(status))
			return
		}
		up, err := net.DialTimeout("tcp", req.Host, 2*time.Second)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
			return
		}
		defer up.Close()
		tunnels.Add(1)
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go io.Copy(up, c)
		io.Copy(c, up)
	})
}

func TestThroughAProxy(t *testing.T) {
	_, target := sandboxTarget(t, sandbox.Config{})
	var tunnels atomic.Int32
	good := connectProxy(t, http.StatusOK, &tunnels)
	opts := Options{Timeout: 3 * time.Second}
	via := func(addr string) mesh.Target {
		t := target
		t.Proxy = mesh.ProxySettings{URL: "http://" + addr, User: "proxyuser", Password: "proxy-secret"}
		return t
	}
	cs, _ := Select(nil, []string{"target.eligibility"})
	res := map[string]Result{}
	for _, r := range Run(t.Context(), via(good), cs, opts, nil) {
		res[r.ID] = r
	}
	for _, id := range []string{"tcp.connect", "tls.server", "tls.client-auth", "mesh.handshake", "mesh.inbox"} {
		if res[id].Status != Pass {
			t.Errorf("%s through the proxy: %s %s", id, res[id].Status, res[id].Summary)
		}
	}
	if p, _ := res["tcp.connect"].Evidence.Get("proxy"); p == "" || contains(p, "proxy-secret") {
		t.Errorf("proxy evidence %q: want the proxy named without its password", p)
	}
	if n := tunnels.Load(); n < 1 {
		t.Errorf("%d tunnels opened: the checks did not go through the proxy", n)
	}

	for _, tt := range []struct {
		status int
		words  []string
	}{
		{http.StatusProxyAuthRequired, []string{"407", "credentials"}},
		{http.StatusForbidden, []string{"403", "policy"}},
	} {
		addr := connectProxy(t, tt.status, &tunnels)
		res := runAtWith(t, via(addr), opts, "tcp.connect")
		expect(t, res, "tcp.connect", Fail, tt.words...)
	}
}

func runAtWith(t *testing.T, target mesh.Target, opts Options, only ...string) map[string]Result {
	t.Helper()
	cs, err := Select(only, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range Run(t.Context(), target, cs, opts, nil) {
		out[r.ID] = r
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
