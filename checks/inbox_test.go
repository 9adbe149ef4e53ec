package checks

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

func TestInboxNearExpiryAndReports(t *testing.T) {
	// The sandbox's clock starts 4.5 days ago, so the message sent then
	// carries that time in its id; it accepts the old tokens of that time.
	var offset atomic.Int64
	offset.Store(int64(-108 * time.Hour))
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv, target := sandboxTarget(t, sandbox.Config{Now: clock, AllowStaleTokens: true})
	sender, err := mesh.NewClient(mesh.Config{BaseURL: srv.URL(), TLS: srv.ClientTLSConfig(), Clock: clock,
		Credentials: mesh.Credentials{Mailbox: "X26ABC2", Password: sandbox.DefaultPassword, SharedKey: sandbox.DefaultSharedKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(t.Context(), mesh.Message{To: "X26ABC1", WorkflowID: "TEST_WORKFLOW"}, strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	offset.Store(0)
	body := `{"mailbox_id": "X26ABC1", "code": "14", "description": "Message not collected", "workflow_id": "TEST_WORKFLOW"}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/messageexchange/admin/report", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	target.Proxy.Direct = true
	res := runAtWith(t, target, Options{}, "mesh.inbox")
	expect(t, res, "mesh.inbox", Warn, "2 message(s) waiting", "4.5 days of MESH's 5 days")
	if r, _ := res["mesh.inbox"].Evidence.Get("reports"); !strings.Contains(r, "1 of the first 2 are REPORT") {
		t.Errorf("reports evidence %q", r)
	}
	if o, _ := res["mesh.inbox"].Evidence.Get("oldest"); !strings.Contains(o, "4.5 days ago") {
		t.Errorf("oldest evidence %q", o)
	}
}
