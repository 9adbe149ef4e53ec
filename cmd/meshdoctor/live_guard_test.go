package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/pki"
)

// TestLiveRefusedByCertificate: an address that is not a live host name
// but whose server presents a certificate for one is refused with exit 2
// before anything is sent, unless --allow-live.
func TestLiveRefusedByCertificate(t *testing.T) {
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Test"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := h.IssueServer(pki.LeafOptions{CommonName: "mesh-sync.spineservices.nhs.uk",
		DNSNames: []string{"mesh-sync.spineservices.nhs.uk"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	var sends atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/outbox") {
			sends.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate(h.SubCA.Cert)}}
	ts.StartTLS()
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var pemCA []byte
	for _, c := range []*pki.KeyPair{&h.Root, &h.SubCA} {
		pemCA = append(pemCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})...)
	}
	if err := os.WriteFile(ca, pemCA, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MESH_MAILBOX_PASSWORD": "pw-for-test", "MESH_SHARED_KEY": "key-for-test"}
	r := runCLI(t, env, "conform", "--url", ts.URL, "--mailbox", "X26ABC1", "--workflow", "WF", "--ca-bundle", ca, "--timeout", "5s")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--allow-live") || !strings.Contains(r.stderr, "mesh-sync.spineservices.nhs.uk") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if sends.Load() != 0 {
		t.Errorf("%d sends before the refusal", sends.Load())
	}
}

// TestInterruptDuringChecksWritesReport: 'run' and 'check' interrupted
// while the server has not answered the TLS handshake still write their
// JSON document, with the interrupted checks as such, and exit 130.
func TestInterruptDuringChecksWritesReport(t *testing.T) {
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
			defer c.Close() // held open, never answered
		}
	}()
	env := map[string]string{"MESH_MAILBOX_PASSWORD": "pw-for-test", "MESH_SHARED_KEY": "key-for-test"}
	for _, command := range []string{"run", "check"} {
		t.Run(command, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(300*time.Millisecond, cancel)
			var out, errb bytes.Buffer
			code := runContext(ctx, []string{command, "--url", "https://" + ln.Addr().String(), "--mailbox", "X26ABC1",
				"--workflow", "WF", "--format", "json"}, &out, &errb, func(k string) string { return env[k] })
			if code != exitInterrupted {
				t.Fatalf("exit %d, stderr %s", code, errb.String())
			}
			var doc struct {
				Checks []struct {
					ID, Status, Summary string
				} `json:"checks"`
				Conformance *struct{} `json:"conformance"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("no JSON document: %v\n%s", err, out.String())
			}
			for _, c := range doc.Checks {
				if c.Status == "fail" && strings.Contains(c.Summary, "context canceled") {
					t.Errorf("%s reported as failed by the interrupt: %s", c.ID, c.Summary)
				}
			}
			if (command == "run") != (doc.Conformance != nil) {
				t.Errorf("conformance part: %v", doc.Conformance != nil)
			}
		})
	}
}
