package suites

import (
	"context"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// startSandbox starts an embedded sandbox with the given faults and returns
// options for a run against it: X26ABC1 sends to itself on TEST_WORKFLOW2,
// small chunks, short waits.
func startSandbox(t testing.TB, faults ...sandbox.Fault) (*sandbox.Server, Options) {
	t.Helper()
	return startSandboxConfig(t, sandbox.Config{Listen: "127.0.0.1:0", Faults: faults})
}

func startSandboxConfig(t testing.TB, cfg sandbox.Config) (*sandbox.Server, Options) {
	t.Helper()
	srv, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg = srv.Config()
	mb := cfg.Mailboxes[0]
	return srv, Options{
		Target: mesh.Target{
			URL:         srv.URL(),
			Credentials: mesh.Credentials{Mailbox: mb.ID, Password: mb.Password, SharedKey: cfg.SharedKey},
			Workflow:    "TEST_WORKFLOW2",
		},
		TLS:          srv.ClientTLSConfig(),
		Timeout:      5 * time.Second,
		PollInterval: 50 * time.Millisecond,
		ChunkSize:    4 << 10,
	}
}

// client is a mesh.Client for a sandbox mailbox.
func client(t testing.TB, srv *sandbox.Server, mailbox string) *mesh.Client {
	t.Helper()
	c, err := mesh.NewClient(mesh.Config{
		BaseURL:     srv.URL(),
		Credentials: mesh.Credentials{Mailbox: mailbox, Password: sandbox.DefaultPassword, SharedKey: srv.Config().SharedKey},
		TLS:         srv.ClientTLSConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// inbox lists a mailbox's inbox on the sandbox.
func inbox(t testing.TB, srv *sandbox.Server, mailbox string) []string {
	t.Helper()
	ids, err := client(t, srv, mailbox).ListAll(context.Background(), mesh.ListOptions{})
	if err != nil {
		t.Fatalf("list inbox of %s: %v", mailbox, err)
	}
	return ids
}

// byID indexes a report's specs.
func byID(r *Report) map[string]Spec {
	m := map[string]Spec{}
	for _, s := range r.Specs {
		m[s.ID] = s
	}
	return m
}
