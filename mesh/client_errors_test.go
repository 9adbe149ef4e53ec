package mesh

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientDecodesErrorBodies(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        APIError
	}{
		{"v1", 417, "application/json", `{"messageID": "M1", "errorEvent": "SEND", "errorCode": "12", "errorDescription": "Unregistered to address"}`,
			APIError{StatusCode: 417, Event: "SEND", Code: "12", Description: "Unregistered to address", MessageID: "M1"}},
		{"v2", 417, AcceptV2, `{"message_id": "M2", "detail": [{"event": "SEND", "code": "17", "msg": "Workflow ID not registered for mailbox"}]}`,
			APIError{StatusCode: 417, Event: "SEND", Code: "17", Description: "Workflow ID not registered for mailbox", MessageID: "M2"}},
		{"XML", 500, "text/xml", "<soap:Envelope>\n  <soap:Fault>internal</soap:Fault>\n</soap:Envelope>",
			APIError{StatusCode: 500, Body: "<soap:Envelope> <soap:Fault>internal</soap:Fault> </soap:Envelope>"}},
		{"empty", 403, "", "", APIError{StatusCode: 403}},
		{"validation", 400, "application/json", `{"detail": [{"loc": ["header", "mex-osname"], "msg": "field required", "type": "value_error.missing"}]}`,
			APIError{StatusCode: 400, Description: `field required ["header", "mex-osname"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
				return true
			}
			c := f.client(f.start(), clSender, nil)
			_, err := c.Track(context.Background(), "M1")
			e, ok := AsAPIError(err)
			if !ok {
				t.Fatalf("err = %v, not an *APIError", err)
			}
			want := tt.want
			want.Method, want.Path = http.MethodGet, "/messageexchange/"+clSender+"/outbox/tracking"
			if *e != want {
				t.Errorf("got  %+v\nwant %+v", *e, want)
			}
			if strings.Contains(err.Error(), "messageID=") {
				t.Errorf("error shows the query: %v", err)
			}
		})
	}
}

// A JSON answer that is not what the endpoint returns is a clear error.
func TestClientRejectsUnexpectedJSON(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		_, _ = io.WriteString(w, `<html>proxy login</html>`)
		return true
	}
	c := f.client(f.start(), clSender, nil)
	_, err := c.ListInbox(context.Background(), ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "not the expected JSON") || !strings.Contains(err.Error(), "proxy login") {
		t.Fatalf("err = %v", err)
	}
	_, err = c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
	if err == nil {
		t.Fatal("send with a non-JSON answer succeeded")
	}
}

// No error the client returns shows the password, the shared key or the
// Authorization header, however the call failed.
func TestClientErrorsHoldNoSecrets(t *testing.T) {
	ctx := context.Background()
	var errs []error
	add := func(err error) {
		if err == nil {
			t.Fatalf("case %d did not fail", len(errs))
		}
		errs = append(errs, err)
	}

	f := newClFake(t)
	srv := f.start()
	// Wrong shared key: 403.
	bad := f.client(srv, clSender, func(cfg *Config) { cfg.Credentials.SharedKey = "wrong-" + clSharedKey })
	add(bad.Handshake(ctx))
	// Exhausted retries.
	f2 := newClFake(t)
	f2.hook = clFailN(99, 503, "", clPathHas("/"))
	add(f2.client(f2.start(), clSender, nil).Handshake(ctx))
	// Connection refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	refused, err := NewClient(Config{BaseURL: "http://" + addr, Credentials: clCreds(clSender), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	add(refused.Handshake(ctx))
	// Untrusted server certificate.
	tlsSrv := clStartMTLS(t, newClPKI(t), f, nil)
	untrusted, _ := NewClient(Config{BaseURL: tlsSrv.URL, Credentials: clCreds(clSender)})
	add(untrusted.Handshake(ctx))
	// Cancelled.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	add(f.client(srv, clSender, nil).Handshake(cctx))
	// Local refusals and configuration errors.
	_, err = f.client(srv, clSender, nil).Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader(""), 0)
	add(err)
	_, err = NewClient(Config{BaseURL: "https://x:" + clPassword + "@h.example", Credentials: clCreds(clSender)})
	add(err)
	_, err = NewClient(Config{BaseURL: "://" + clPassword, Credentials: clCreds(clSender)})
	add(err)

	for i, err := range errs {
		msg := err.Error()
		t.Logf("case %d: %s", i, msg)
		for _, secret := range []string{clPassword, clSharedKey, TokenScheme + " "} {
			if strings.Contains(msg, secret) {
				t.Errorf("case %d shows %q: %s", i, secret, msg)
			}
		}
	}
	if e, ok := AsAPIError(errs[0]); !ok || !e.IsAuth() {
		t.Errorf("wrong shared key: %v", errs[0])
	}
}

// Through an HTTP proxy the client tunnels with CONNECT and does TLS end to
// end, so the server still gets the client certificate.
func TestClientProxyPresentsClientCertificate(t *testing.T) {
	pki := newClPKI(t)
	f := newClFake(t)
	var cn atomic.Value
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cn.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		return false
	}
	var conns atomic.Int32
	srv := clStartMTLS(t, pki, f, &conns)
	proxy := &clProxy{}
	proxySrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = proxySrv.Serve(ln) }()
	t.Cleanup(func() { _ = proxySrv.Close() })
	proxyURL := &url.URL{Scheme: "http", Host: ln.Addr().String()}

	c := f.client(srv, clSender, func(cfg *Config) {
		cfg.TLS = &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}
		cfg.Proxy = http.ProxyURL(proxyURL)
	})
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatalf("Handshake through the proxy: %v", err)
	}
	if got, _ := cn.Load().(string); got != "X26ABC1.X26.api.mesh-client.nhs.uk" {
		t.Errorf("server saw client certificate %q", got)
	}
	target := strings.TrimPrefix(srv.URL, "https://")
	if seen := proxy.seen(); len(seen) != 1 || seen[0] != target {
		t.Errorf("proxy tunnelled to %v, want [%s]", seen, target)
	}

	// Without a client certificate the same route fails.
	noCert := f.client(srv, clSender, func(cfg *Config) {
		cfg.TLS = &tls.Config{RootCAs: pki.pool}
		cfg.Proxy = http.ProxyURL(proxyURL)
		cfg.MaxRetries = -1
	})
	if err := noCert.Handshake(context.Background()); err == nil {
		t.Fatal("handshake without a client certificate succeeded")
	}
}
