package suites

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// TestWholeCatalogueOnSandbox: every spec passes against a correct MESH,
// within the speed budget, and the inbox is left as it was found: the
// leftover of an earlier run is reported, not touched, as is any other
// message.
func TestWholeCatalogueOnSandbox(t *testing.T) {
	srv, o := startSandbox(t)
	c := client(t, srv, "X26ABC1")
	ctx := context.Background()
	foreign, err := c.Send(ctx, mesh.Message{To: "X26ABC1", WorkflowID: "TEST_WORKFLOW2", LocalID: "not-ours"}, strings.NewReader("someone else's"), -1)
	if err != nil {
		t.Fatal(err)
	}
	leftover, err := c.Send(ctx, mesh.Message{To: "X26ABC1", WorkflowID: "TEST_WORKFLOW2", LocalID: LocalIDPrefix + "deadbeef-basic"}, strings.NewReader("an earlier run's"), -1)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	o.Progress = &progress

	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Specs) < 30 {
		t.Errorf("%d specs ran, want at least 30", len(r.Specs))
	}
	for _, s := range r.Specs {
		if s.Status != StatusPassed {
			t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
		}
	}
	if !r.Summary.OK || r.Summary.Passed != len(r.Specs) {
		t.Errorf("summary %+v", r.Summary)
	}
	if r.Cleanup.Drained != 0 || r.Cleanup.Sent == 0 || r.Cleanup.Acknowledged != r.Cleanup.Sent || len(r.Cleanup.Leftovers) != 0 {
		t.Errorf("clean-up %+v: want everything sent acknowledged and the earlier run's message left alone", r.Cleanup)
	}
	if er := r.Cleanup.Earlier; er == nil || er.Waiting != 1 {
		t.Errorf("earlier runs %+v: want the one leftover of an earlier run reported", er)
	}
	ids := inbox(t, srv, "X26ABC1")
	if len(ids) != 2 || !slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, foreign) }) ||
		!slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, leftover) }) {
		t.Errorf("inbox after the run: %v; want the messages that were there before (%s, %s), untouched", ids, foreign, leftover)
	}
	if got := strings.Count(progress.String(), "\n"); got != len(r.Specs) {
		t.Errorf("progress has %d lines, want one per spec (%d):\n%s", got, len(r.Specs), progress.String())
	}
	spec := byID(r)["MESH-SEND-001"]
	if len(spec.Entries) == 0 || spec.Entries[0].Name != "message_id" {
		t.Errorf("MESH-SEND-001 recorded %v, want the message id first", spec.Entries)
	}
}

// TestTwoMailboxes: with the recipient's credentials the suite sends to
// another mailbox, receives there, and leaves both inboxes empty.
func TestTwoMailboxes(t *testing.T) {
	srv, o := startSandbox(t)
	o.Target.Recipient = "X26ABC2"
	o.RecipientCredentials = &mesh.Credentials{Password: sandbox.DefaultPassword}
	o.LabelFilter = "send || receive || ack || tracking"
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Specs {
		if s.Selected && s.Status != StatusPassed {
			t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
		}
	}
	if got := byID(r)["MESH-RECEIVE-007"]; !hasEntry(got, "mex-to", "X26ABC2") {
		t.Errorf("MESH-RECEIVE-007 entries %v: want the recipient X26ABC2", got.Entries)
	}
	for _, mb := range []string{"X26ABC1", "X26ABC2"} {
		if ids := inbox(t, srv, mb); len(ids) != 0 {
			t.Errorf("inbox of %s holds %v after the run", mb, ids)
		}
	}
}

// TestFaults: against a misbehaving sandbox the right specs fail, the run
// never crashes, and whatever was sent is cleaned up.
func TestFaults(t *testing.T) {
	tokenFree := map[string]bool{"MESH-LOOKUP-001": true, "MESH-LOOKUP-002": true, "MESH-LOOKUP-003": true}
	tests := []struct {
		name   string
		faults []sandbox.Fault
		// pass says which specs must pass; every other selected spec
		// must fail or be skipped.
		pass func(id string) bool
	}{
		{
			name:   "reject-token",
			faults: []sandbox.Fault{sandbox.FaultRejectToken},
			pass:   func(id string) bool { return tokenFree[id] },
		},
		{
			name:   "http-500",
			faults: []sandbox.Fault{sandbox.FaultHTTP500},
			pass:   func(string) bool { return false },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, o := startSandbox(t, tt.faults...)
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, s := range r.Specs {
				if !s.Selected {
					continue
				}
				switch want := tt.pass(s.ID); {
				case want && s.Status != StatusPassed:
					t.Errorf("%s %s, want passed: %s", s.ID, s.Status, s.Failure)
				case !want && s.Status == StatusPassed:
					t.Errorf("%s passed against the %s fault", s.ID, tt.name)
				case s.Status == StatusPanicked:
					t.Errorf("%s panicked: %s", s.ID, s.Failure)
				case s.Status == StatusFailed:
					failed++
					if s.Failure == "" {
						t.Errorf("%s failed without a reason", s.ID)
					}
				}
			}
			if failed == 0 || r.Summary.OK {
				t.Errorf("no spec failed against the %s fault: %+v", tt.name, r.Summary)
			}
			// The fault hides the inbox from any client: judge by the
			// clean-up report (TestSlowFaultCleansUp looks at the store).
			if len(r.Cleanup.Leftovers) != 0 || r.Cleanup.Acknowledged != r.Cleanup.Sent {
				t.Errorf("clean-up %+v: something sent was not acknowledged", r.Cleanup)
			}
		})
	}
}

// TestNegativeAuthNeedsValidTokenAccepted: a server that refuses every
// token, or whose clock is hours off, refuses bad tokens too; that proves
// nothing, so the negative auth specs are skipped saying why, never passed
// nor failed.
func TestNegativeAuthNeedsValidTokenAccepted(t *testing.T) {
	auth := []string{"MESH-AUTH-001", "MESH-AUTH-002", "MESH-AUTH-003", "MESH-AUTH-004", "MESH-AUTH-005"}
	for _, fault := range []sandbox.Fault{sandbox.FaultRejectToken, sandbox.FaultClockSkew} {
		t.Run(string(fault), func(t *testing.T) {
			_, o := startSandbox(t, fault)
			o.Focus = []string{"MESH-AUTH-"}
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			specs := byID(r)
			for _, id := range auth {
				s := specs[id]
				if s.Status != StatusSkipped || !s.Selected || !strings.Contains(s.Failure, "refuses valid tokens too (see MESH-HANDSHAKE-001)") {
					t.Errorf("%s %s (%q), want skipped because valid tokens are refused too", id, s.Status, s.Failure)
				}
			}
		})
	}
	// Against a correct server the control passes and so do the specs.
	_, o := startSandbox(t)
	o.Focus = []string{"MESH-AUTH-"}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	specs := byID(r)
	for _, id := range auth {
		if s := specs[id]; s.Status != StatusPassed {
			t.Errorf("%s %s (%q) against a correct sandbox, want passed", id, s.Status, s.Failure)
		}
	}
}

// TestSlowFaultCleansUp: a send that times out on the client may still
// land in MESH; the clean-up finds it by the run's local-ID prefix.
func TestSlowFaultCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 seconds")
	}
	dir := t.TempDir()
	srv, o := startSandboxConfig(t, sandbox.Config{Listen: "127.0.0.1:0", Faults: []sandbox.Fault{sandbox.FaultSlow}, DataDir: dir})
	o.Timeout = time.Second
	o.Focus = []string{"MESH-SEND-001"}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s := byID(r)["MESH-SEND-001"]; s.Status != StatusFailed {
		t.Errorf("MESH-SEND-001 %s against a server slower than the timeout, want failed", s.Status)
	}
	if r.Cleanup.Sent != 1 || r.Cleanup.Acknowledged != 1 {
		t.Errorf("clean-up %+v: want the message MESH took after the client gave up found and acknowledged", r.Cleanup)
	}
	srv.Close()
	// The same store without the fault: the inbox is empty.
	fast, _ := startSandboxConfig(t, sandbox.Config{Listen: "127.0.0.1:0", DataDir: dir})
	if ids := inbox(t, fast, "X26ABC1"); len(ids) != 0 {
		t.Errorf("inbox holds %v after the run", ids)
	}
}

// TestRulesNotEnforced: a server that accepts replayed or stale tokens
// fails those negative specs with a clear reason, and nothing else.
func TestRulesNotEnforced(t *testing.T) {
	_, o := startSandboxConfig(t, sandbox.Config{Listen: "127.0.0.1:0", AllowTokenReuse: true, AllowStaleTokens: true})
	o.LabelFilter = "handshake"
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Specs {
		if !s.Selected {
			continue
		}
		wantFail := s.ID == "MESH-AUTH-003" || s.ID == "MESH-AUTH-004"
		switch {
		case wantFail && (s.Status != StatusFailed || !strings.Contains(s.Failure, "does not enforce")):
			t.Errorf("%s %s (%s), want a failure saying the server does not enforce the rule", s.ID, s.Status, s.Failure)
		case !wantFail && s.Status != StatusPassed:
			t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
		}
	}
}

// TestInterrupted: cancelling the run's context mid-way stops the specs
// and still cleans up.
func TestInterrupted(t *testing.T) {
	srv, o := startSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Progress = cancelAfter{id: "MESH-RECEIVE-001", cancel: cancel}
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.OK || r.Summary.Aborted+r.Summary.Interrupted == 0 {
		t.Errorf("summary %+v: want the run reported as stopped", r.Summary)
	}
	for _, s := range r.Specs {
		if s.Status == StatusFailed && strings.Contains(s.Failure, "context canceled") {
			t.Errorf("%s reported as MESH's failure after the interrupt: %s", s.ID, s.Failure)
		}
	}
	if !strings.Contains(r.Summary.Line(), "stopped by the interrupt") {
		t.Errorf("summary line %q does not say the run was stopped", r.Summary.Line())
	}
	if s := byID(r)["MESH-ERROR-007"]; s.Status == StatusPassed {
		t.Errorf("the last spec ran after the interrupt")
	}
	if ids := inbox(t, srv, "X26ABC1"); len(ids) != 0 {
		t.Errorf("inbox holds %v after an interrupted run", ids)
	}
	if r.Cleanup.Sent == 0 || r.Cleanup.Acknowledged != r.Cleanup.Sent {
		t.Errorf("clean-up %+v", r.Cleanup)
	}
}

type cancelAfter struct {
	id     string
	cancel context.CancelFunc
}

func (c cancelAfter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.id) {
		c.cancel()
	}
	return len(p), nil
}

func TestOptionErrors(t *testing.T) {
	base := Options{Target: mesh.Target{
		URL:         "https://127.0.0.1:1",
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: "p", SharedKey: "k"},
		Workflow:    "WF",
	}}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"bad label filter", func(o *Options) { o.LabelFilter = "send && (" }, "label filter"},
		{"bad focus", func(o *Options) { o.Focus = []string{"MESH-("} }, "regular expression"},
		{"no workflow", func(o *Options) { o.Target.Workflow = "" }, "no workflow"},
		{"no password", func(o *Options) { o.Target.Credentials.Password = "" }, "password"},
		{"recipient without credentials", func(o *Options) { o.Target.Recipient = "X26ABC2" }, "MESH_RECIPIENT_PASSWORD"},
		{"poll longer than timeout", func(o *Options) { o.Timeout, o.PollInterval = time.Second, time.Minute }, "poll interval"},
		{"no target", func(o *Options) { o.Target.URL = "" }, "--env"},
		{"lower-case mailbox", func(o *Options) { o.Target.Credentials.Mailbox = "x26abc1" }, "use X26ABC1"},
		{"chunk larger than MESH takes", func(o *Options) { o.ChunkSize = MaxChunkSize + 1 }, "100 MB"},
		{"chunk of 100 GiB", func(o *Options) { o.ChunkSize = 100 << 30 }, "100 MB"},
		{"negative chunk", func(o *Options) { o.ChunkSize = -1 }, "too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			_, err := Run(context.Background(), o)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a ConfigError mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\x1b") {
				t.Fatalf("error %q has terminal colour codes", err)
			}
		})
	}
}

func TestLive(t *testing.T) {
	o := Options{Target: mesh.Target{
		Environment: mesh.Live,
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: "p", SharedKey: "k"},
		Workflow:    "WF",
	}}
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrLiveRefused) {
		t.Fatalf("live without AllowLive: %v, want ErrLiveRefused", err)
	}
	o.AllowLive = true
	o.LabelFilter = "send"
	d, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if d.LabelFilter != "live-safe && (send)" {
		t.Fatalf("live label filter %q, want only live-safe specs", d.LabelFilter)
	}
}

func hasEntry(s Spec, name, value string) bool {
	for _, e := range s.Entries {
		if e.Name == name && strings.EqualFold(e.Value, value) {
			return true
		}
	}
	return false
}

func TestSkipped(t *testing.T) {
	r := Skipped("mesh.handshake failed")
	if len(r.Specs) != len(Catalogue()) || r.Summary.OK || r.Summary.Skipped != len(r.Specs) {
		t.Fatalf("summary %+v for %d specs", r.Summary, len(r.Specs))
	}
	for _, s := range r.Specs {
		if s.Status != StatusSkipped || s.Failure != "mesh.handshake failed" {
			t.Fatalf("%s %s %q", s.ID, s.Status, s.Failure)
		}
	}
}

// When MESH cannot be reached at all, the run says so once, with the
// reason, instead of failing every spec one after another.
func TestUnreachableMESHIsSaidOnce(t *testing.T) {
	_, o := startSandboxConfig(t, sandbox.Config{Listen: "127.0.0.1:0", Faults: []sandbox.Fault{sandbox.FaultTLS10Only}})
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.OK || r.Summary.Skipped != r.Summary.Total || !strings.Contains(r.Specs[0].Failure, "MESH could not be reached") ||
		!strings.Contains(r.Specs[0].Failure, "protocol version") {
		t.Fatalf("summary %+v, first spec %+v", r.Summary, r.Specs[0])
	}
}
