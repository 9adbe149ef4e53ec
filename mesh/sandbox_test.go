package mesh_test

// End to end: the Client against the real sandbox, over mutual TLS on
// loopback. The package-internal tests use small fakes; these prove the two
// halves agree with each other and with the specification.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

var e2ePKI struct {
	once sync.Once
	dir  string
	err  error
}

// pkiDir is one sandbox PKI for the whole test binary: key generation is
// the slow part of starting a sandbox.
func pkiDir(t *testing.T) string {
	t.Helper()
	e2ePKI.once.Do(func() { e2ePKI.dir, e2ePKI.err = os.MkdirTemp("", "meshdoctor-e2e-pki-") })
	if e2ePKI.err != nil {
		t.Fatal(e2ePKI.err)
	}
	return e2ePKI.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2ePKI.dir != "" {
		os.RemoveAll(e2ePKI.dir)
	}
	os.Exit(code)
}

func startSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.PKIDir == "" {
		cfg.PKIDir = pkiDir(t)
	}
	srv, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(t *testing.T, srv *sandbox.Server, mailbox string, version int, mutate ...func(*mesh.Config)) *mesh.Client {
	t.Helper()
	cfg := mesh.Config{
		BaseURL:      srv.URL(),
		Credentials:  mesh.Credentials{Mailbox: mailbox, Password: "password", SharedKey: "TestKey"},
		TLS:          srv.ClientTLSConfig(),
		APIVersion:   version,
		RetryBackoff: time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := mesh.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestEndToEndBothVersions(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			ctx := ctx(t)
			alice := newClient(t, srv, "X26ABC1", version)
			bob := newClient(t, srv, "X26ABC2", version)
			for _, c := range []*mesh.Client{alice, bob} {
				if err := c.Handshake(ctx); err != nil {
					t.Fatal(err)
				}
			}
			body := []byte("hello from meshdoctor\n")
			id, err := alice.Send(ctx, mesh.Message{
				To: "X26ABC2", WorkflowID: "TEST_WORKFLOW", Subject: "greeting", LocalID: "local-1",
				FileName: "hello.txt", Checksum: "sha256:abc", ContentType: "text/plain", Encrypted: true,
			}, bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != 27 || id[20] != '_' {
				t.Fatalf("message id %q is not MESH-shaped (yyyyMMddHHmmssffffff_XXXXXX)", id)
			}
			tr, err := alice.Track(ctx, id)
			if err != nil || tr.Status != "accepted" {
				t.Fatalf("tracking before download: %+v %v", tr, err)
			}
			ids, err := bob.ListAll(ctx, mesh.ListOptions{})
			if err != nil || !contains(ids, id) {
				t.Fatalf("inbox %v %v lacks %s", ids, err, id)
			}
			n, err := bob.Count(ctx)
			if err != nil || n < 1 {
				t.Fatalf("count %d %v", n, err)
			}
			head, err := bob.Head(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			info, err := bob.Download(ctx, id, &got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Fatalf("downloaded %q", got.Bytes())
			}
			for name, pair := range map[string][2]string{
				"from": {info.From, "X26ABC1"}, "to": {info.To, "X26ABC2"}, "workflow": {info.WorkflowID, "TEST_WORKFLOW"},
				"subject": {info.Subject, "greeting"}, "local id": {info.LocalID, "local-1"}, "file name": {info.FileName, "hello.txt"},
				"checksum": {info.Checksum, "sha256:abc"}, "type": {info.MessageType, "DATA"}, "head id": {head.MessageID, id},
			} {
				if pair[0] != pair[1] {
					t.Errorf("%s = %q, want %q", name, pair[0], pair[1])
				}
			}
			if !info.Encrypted || info.Compressed {
				t.Errorf("flags encrypted=%v compressed=%v", info.Encrypted, info.Compressed)
			}
			if err := bob.Acknowledge(ctx, id); err != nil {
				t.Fatal(err)
			}
			if tr, err := alice.Track(ctx, id); err != nil || tr.Status != "acknowledged" {
				t.Fatalf("tracking after ack: %+v %v", tr, err)
			}
			// Acknowledged means gone, as on the real service.
			_, err = bob.Download(ctx, id, io.Discard)
			if apiErr, ok := mesh.AsAPIError(err); !ok || apiErr.StatusCode != 410 {
				t.Fatalf("download after ack: %v, want 410", err)
			}
			if ids, _ := bob.ListAll(ctx, mesh.ListOptions{}); contains(ids, id) {
				t.Fatal("acknowledged message still listed")
			}
			// Another sender's message is not ours to track: 404, not 403.
			_, err = bob.Track(ctx, id)
			if apiErr, ok := mesh.AsAPIError(err); !ok || apiErr.StatusCode != 404 {
				t.Fatalf("tracking another's message: %v, want 404", err)
			}
		})
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if strings.EqualFold(x, id) {
			return true
		}
	}
	return false
}

func TestEndToEndChunkedAndCompressed(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	ctx := ctx(t)
	payload := make([]byte, 5*64<<10+123)
	rand.Read(payload[:len(payload)/2]) // half random, half zeros: gzip has work either way
	tests := []struct {
		name   string
		gzip   bool
		size   int64 // -1: unknown, the client must find out
		chunks int
	}{
		{"plain", false, int64(len(payload)), 6},
		{"gzip", true, int64(len(payload)), 6},
		{"unknown size", true, -1, 6},
	}
	for _, version := range []int{1, 2} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("v%d %s", version, tt.name), func(t *testing.T) {
				alice := newClient(t, srv, "X26ABC1", version, func(c *mesh.Config) { c.ChunkSize = 64 << 10 })
				bob := newClient(t, srv, "X26ABC2", version)
				id, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW", Gzip: tt.gzip}, io.MultiReader(bytes.NewReader(payload)), tt.size)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				info, err := bob.Download(ctx, id, &got)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), payload) {
					t.Fatalf("downloaded %d bytes that differ from the %d sent", got.Len(), len(payload))
				}
				if info.TotalChunks != tt.chunks {
					t.Fatalf("%d chunks, want %d", info.TotalChunks, tt.chunks)
				}
				if err := bob.Acknowledge(ctx, id); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestEndToEndPagination(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	ctx := ctx(t)
	alice := newClient(t, srv, "X26ABC1", 2)
	var sent []string
	for i := range 25 {
		wf := "TEST_WORKFLOW"
		if i%5 == 0 {
			wf = "OTHER_WORKFLOW"
		}
		id, err := alice.Send(ctx, mesh.Message{To: "X26ABC3", WorkflowID: wf}, strings.NewReader(fmt.Sprint("message ", i)), -1)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
	}
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			carol := newClient(t, srv, "X26ABC3", version)
			ids, err := carol.ListAll(ctx, mesh.ListOptions{MaxResults: 10})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(ids, ",") != strings.Join(sent, ",") {
				t.Fatalf("listed %d ids in order %v,\nwant %d: %v", len(ids), ids, len(sent), sent)
			}
			page, err := carol.ListInbox(ctx, mesh.ListOptions{MaxResults: 10})
			if err != nil || len(page.Messages) != 10 || page.ContinueFrom == "" {
				t.Fatalf("first page %+v %v", page, err)
			}
			if version == 2 && (page.ApproxInboxCount != 25 || !strings.HasPrefix(page.Next, "/messageexchange/")) {
				t.Fatalf("v2 page: count %d next %q (want a relative link)", page.ApproxInboxCount, page.Next)
			}
		})
	}
	carol := newClient(t, srv, "X26ABC3", 2)
	other, err := carol.ListAll(ctx, mesh.ListOptions{WorkflowFilter: "OTHER_WORKFLOW"})
	if err != nil || len(other) != 5 {
		t.Fatalf("workflow filter: %d ids %v", len(other), err)
	}
	notOther, err := carol.ListAll(ctx, mesh.ListOptions{WorkflowFilter: "!OTHER*"})
	if err != nil || len(notOther) != 20 {
		t.Fatalf("negated prefix filter: %d ids %v", len(notOther), err)
	}
}

func TestEndToEndAuthFailures(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	tests := []struct {
		name   string
		mutate func(*mesh.Config)
		code   string
	}{
		{"wrong password", func(c *mesh.Config) { c.Credentials.Password = "Password1" }, ""},
		{"wrong shared key", func(c *mesh.Config) { c.Credentials.SharedKey = "BackBone" }, ""},
		{"unknown mailbox", func(c *mesh.Config) { c.Credentials.Mailbox = "X26ZZZ9" }, "EPL-151"},
		{"clock 3h fast", func(c *mesh.Config) { c.Clock = func() time.Time { return time.Now().Add(3 * time.Hour) } }, ""},
		{"clock 3h slow", func(c *mesh.Config) { c.Clock = func() time.Time { return time.Now().Add(-3 * time.Hour) } }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv, "X26ABC1", 2, tt.mutate)
			err := c.Handshake(ctx(t))
			apiErr, ok := mesh.AsAPIError(err)
			if !ok || !apiErr.IsAuth() || apiErr.Code != tt.code {
				t.Fatalf("err = %v, want a 403 authentication failure (code %q)", err, tt.code)
			}
			for _, secret := range []string{"Password1", "BackBone", "TestKey"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestEndToEndBusinessErrors(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	ctx := ctx(t)
	alice := newClient(t, srv, "X26ABC1", 2)
	_, err := alice.Send(ctx, mesh.Message{To: "X26NOPE1", WorkflowID: "TEST_WORKFLOW"}, strings.NewReader("x"), 1)
	if apiErr, ok := mesh.AsAPIError(err); !ok || apiErr.StatusCode != 417 || apiErr.Code != "12" {
		t.Fatalf("unknown recipient: %v, want 417 code 12", err)
	}
	if _, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW"}, strings.NewReader(""), 0); !errors.Is(err, mesh.ErrEmptyMessage) {
		t.Fatalf("empty message: %v", err)
	}
	_, err = alice.Download(ctx, "20200101000000000000_ABCDEF", io.Discard)
	if apiErr, ok := mesh.AsAPIError(err); !ok || apiErr.StatusCode != 404 {
		t.Fatalf("unknown message: %v, want 404", err)
	}
	refs, err := alice.LookupEndpoint(ctx, "X26", "TEST_WORKFLOW")
	if err != nil || len(refs) != 1 || refs[0].MailboxID != "X26ABC2" {
		t.Fatalf("endpoint lookup: %+v %v", refs, err)
	}
	refs, err = alice.SearchWorkflow(ctx, "TEST_WORKFLOW_ACK")
	if err != nil || len(refs) != 2 {
		t.Fatalf("workflow search: %+v %v", refs, err)
	}
}

func TestEndToEndTLSFailures(t *testing.T) {
	srv := startSandbox(t, sandbox.Config{})
	other, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC1", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  func() *tls.Config
		want string
	}{
		{"no client certificate", func() *tls.Config { return &tls.Config{RootCAs: srv.CAPool()} }, "certificate required"},
		{"certificate from another CA", func() *tls.Config {
			return &tls.Config{RootCAs: srv.CAPool(), Certificates: []tls.Certificate{stranger.TLSCertificate(other.SubCA.Cert)}}
		}, "unknown certificate authority"},
		{"server not trusted", func() *tls.Config {
			cfg := srv.ClientTLSConfig()
			cfg.RootCAs = other.Pool()
			return cfg
		}, "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv, "X26ABC1", 2, func(c *mesh.Config) { c.TLS = tt.tls() })
			err := c.Handshake(ctx(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEndToEndHTTPFaults(t *testing.T) {
	t.Run("http-500", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Config{Faults: []sandbox.Fault{sandbox.FaultHTTP500}})
		err := newClient(t, srv, "X26ABC1", 2).Handshake(ctx(t))
		apiErr, ok := mesh.AsAPIError(err)
		if !ok || apiErr.StatusCode != 500 || !strings.Contains(apiErr.Body, "soap:Fault") {
			t.Fatalf("err = %v, want 500 with the SOAP body kept", err)
		}
	})
	t.Run("reject-token", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Config{Faults: []sandbox.Fault{sandbox.FaultRejectToken}})
		err := newClient(t, srv, "X26ABC1", 2).Handshake(ctx(t))
		if apiErr, ok := mesh.AsAPIError(err); !ok || !apiErr.IsAuth() {
			t.Fatalf("err = %v, want 403", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Config{Faults: []sandbox.Fault{sandbox.FaultReset}})
		err := newClient(t, srv, "X26ABC1", 2, func(c *mesh.Config) { c.MaxRetries = 1 }).Handshake(ctx(t))
		if err == nil {
			t.Fatal("handshake through a resetting server succeeded")
		}
		if _, ok := mesh.AsAPIError(err); ok {
			t.Fatalf("err = %v: a reset is a transport failure, not an API answer", err)
		}
	})
	t.Run("clock-skew", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Config{Faults: []sandbox.Fault{sandbox.FaultClockSkew}})
		err := newClient(t, srv, "X26ABC1", 2).Handshake(ctx(t))
		if apiErr, ok := mesh.AsAPIError(err); !ok || !apiErr.IsAuth() {
			t.Fatalf("err = %v, want 403 from a server whose clock is 3h off", err)
		}
	})
}

func TestEndToEndRestartWithDataDir(t *testing.T) {
	data := t.TempDir()
	ctx := ctx(t)
	first := startSandbox(t, sandbox.Config{DataDir: data})
	alice := newClient(t, first, "X26ABC1", 2, func(c *mesh.Config) { c.ChunkSize = 1 << 10 })
	payload := bytes.Repeat([]byte("persist me\n"), 500)
	id, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW", Subject: "kept", Gzip: true}, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := startSandbox(t, sandbox.Config{DataDir: data})
	bob := newClient(t, second, "X26ABC2", 2)
	ids, err := bob.ListAll(ctx, mesh.ListOptions{})
	if err != nil || !contains(ids, id) {
		t.Fatalf("after restart the inbox is %v %v", ids, err)
	}
	var got bytes.Buffer
	info, err := bob.Download(ctx, id, &got)
	if err != nil || !bytes.Equal(got.Bytes(), payload) || info.Subject != "kept" {
		t.Fatalf("after restart: %v, %d bytes, subject %q", err, got.Len(), info.Subject)
	}
	if err := bob.Acknowledge(ctx, id); err != nil {
		t.Fatal(err)
	}
	tr, err := newClient(t, second, "X26ABC1", 2).Track(ctx, id)
	if err != nil || tr.Status != "acknowledged" {
		t.Fatalf("tracking after restart: %+v %v", tr, err)
	}
}
