package suites

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// wire is a reverse proxy in front of a sandbox that records every request
// (method and path) and lets a test act on the n-th one.
type wire struct {
	mu    sync.Mutex
	seen  []string
	onReq func(n int, r *http.Request) // called before passing request n on (1-based)
	// cut, when it says so, passes request n on and then drops the
	// connection instead of answering: MESH took it, the client never knew.
	cut func(n int, r *http.Request) bool
	// onCut is called once a cut request has been answered by MESH, before
	// its connection is dropped.
	onCut func(r *http.Request)
	// headOmits are headers taken out of every HEAD answer, as an
	// implementation may legitimately give fewer headers on HEAD than on GET.
	headOmits []string
	// trackSender, when set, replaces the sender a tracking answer names.
	trackSender string
	server      *httptest.Server
}

func newWire(t *testing.T, srv *sandbox.Server, o *Options) *wire {
	t.Helper()
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	p := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}
	p.Transport = tr
	p.ErrorLog = log.New(io.Discard, "", 0)
	p.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodHead {
			for _, h := range w.headOmits {
				resp.Header.Del(h)
			}
		}
		if w.trackSender != "" && strings.Contains(resp.Request.URL.Path, "/outbox/tracking") && resp.StatusCode == http.StatusOK {
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				return err
			}
			resp.Body.Close()
			if _, ok := body["sender"]; ok {
				body["sender"] = w.trackSender
			}
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		}
		return nil
	}
	w.server = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.seen = append(w.seen, r.Method+" "+r.URL.Path)
		n, hook, cut, onCut := len(w.seen), w.onReq, w.cut, w.onCut
		w.mu.Unlock()
		if hook != nil {
			hook(n, r)
		}
		if cut != nil && cut(n, r) {
			p.ServeHTTP(httptest.NewRecorder(), r)
			if onCut != nil {
				onCut(r)
			}
			panic(http.ErrAbortHandler)
		}
		p.ServeHTTP(rw, r)
	}))
	// Closed before the sandbox: its idle connections would hold the
	// sandbox's shutdown.
	t.Cleanup(func() { w.server.Close(); tr.CloseIdleConnections() })
	pool := x509.NewCertPool()
	pool.AddCert(w.server.Certificate())
	o.Target.URL = w.server.URL
	o.TLS = &tls.Config{RootCAs: pool}
	return w
}

func (w *wire) requests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// touched lists what a run did to a message beyond reading its headers:
// downloads (GET of the message or a chunk) and acknowledgements.
func (w *wire) touched(id string) []string {
	re := regexp.MustCompile(`(?i)^(GET|PUT) .*/inbox/` + regexp.QuoteMeta(id) + `(/|$)`)
	var out []string
	for _, r := range w.requests() {
		if re.MatchString(r) {
			out = append(out, r)
		}
	}
	return out
}

// seed sends a message from one sandbox mailbox to another with the given
// local ID and returns its id.
func seed(t *testing.T, srv *sandbox.Server, from, to, localID string) string {
	t.Helper()
	id, err := client(t, srv, from).Send(context.Background(),
		mesh.Message{To: to, WorkflowID: "TEST_WORKFLOW2", LocalID: localID, Subject: "not this run's"},
		strings.NewReader("someone's real data"), -1)
	if err != nil {
		t.Fatalf("seed %s: %v", localID, err)
	}
	return id
}

func localIDAt(started time.Time, purpose string) string {
	return LocalIDPrefix + newRunID(started) + "-" + purpose
}

// sharedInbox fills X26ABC1's inbox as a shared mailbox looks: another
// sender's messages (one imitating this very run's local ID, one an old
// meshdoctor-looking one), an ordinary message of the mailbox itself, and
// two earlier meshdoctor runs' messages from the mailbox itself, one three
// days old, one of a run that may still be going.
func sharedInbox(t *testing.T, srv *sandbox.Server, runID string) (foreign, oldOwn, youngOwn string) {
	t.Helper()
	var f []string
	f = append(f, seed(t, srv, "X26ABC2", "X26ABC1", LocalIDPrefix+runID+"-basic"))
	f = append(f, seed(t, srv, "X26ABC2", "X26ABC1", localIDAt(time.Now().Add(-72*time.Hour), "basic")))
	f = append(f, seed(t, srv, "X26ABC1", "X26ABC1", "invoice-2026-0042"))
	oldOwn = seed(t, srv, "X26ABC1", "X26ABC1", localIDAt(time.Now().Add(-72*time.Hour), "chunked"))
	youngOwn = seed(t, srv, "X26ABC1", "X26ABC1", localIDAt(time.Now().Add(-5*time.Minute), "page-03"))
	return strings.Join(f, ","), oldOwn, youngOwn
}

// TestSharedMailbox: in an inbox holding other senders' messages (one with
// this run's own local ID) and earlier runs' leftovers, every spec passes,
// nothing that is not the run's own is downloaded or acknowledged, and the
// earlier runs' messages are reported, not touched.
func TestSharedMailbox(t *testing.T) {
	srv, o := startSandbox(t)
	o.runID = newRunID(time.Now())
	foreign, oldOwn, youngOwn := sharedInbox(t, srv, o.runID)
	w := newWire(t, srv, &o)
	before := inbox(t, srv, "X26ABC1")

	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Specs {
		if s.Status != StatusPassed {
			t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
		}
	}
	for _, id := range before {
		if got := w.touched(id); len(got) > 0 {
			t.Errorf("message %s, not the run's, was touched: %v", id, got)
		}
	}
	if after := inbox(t, srv, "X26ABC1"); !sameIDs(after, before) {
		t.Errorf("inbox after the run %v, want as it was %v", after, before)
	}
	er := r.Cleanup.Earlier
	if er == nil || er.Waiting != 2 || time.Since(er.Oldest) < 71*time.Hour {
		t.Fatalf("earlier runs %+v: want 2 waiting, the oldest 3 days", er)
	}
	if line := er.Line(time.Now()); !strings.Contains(line, "2 messages from earlier meshdoctor runs wait in the inbox, the oldest 3 days") {
		t.Errorf("earlier-runs line %q", line)
	}
	if r.RunID != o.runID || r.Cleanup.Drained != 0 || r.Cleanup.Acknowledged != r.Cleanup.Sent || r.Cleanup.Untouched < 5 {
		t.Errorf("run %s, clean-up %+v", r.RunID, r.Cleanup)
	}
	_, _, _ = foreign, oldOwn, youngOwn
}

// TestCleanUpEarlierRuns: asked to, the run acknowledges the mailbox's own
// old meshdoctor messages and lists them; it refuses other senders' (even
// with meshdoctor's local ID) and those of a run that may still be going.
// HEAD may name the sender and local ID, or leave them to GET (then the
// run's own tracking tells its messages apart); the verdicts are the same,
// but for another sender's message whose local ID HEAD hides, which is not
// even listed as refused: nothing shows it to be meshdoctor's.
func TestCleanUpEarlierRuns(t *testing.T) {
	for _, tc := range []struct {
		name, why string
		omits     []string
	}{
		{"full HEAD", "sent by X26ABC2, not by X26ABC1", nil},
		{"HEAD without mex-From", "its sender is not shown (HEAD names none, and X26ABC1's tracking does not know it)", []string{mesh.HeaderFrom}},
		{"HEAD without mex-From and mex-LocalID", "", []string{mesh.HeaderFrom, mesh.HeaderLocalID}},
	} {
		t.Run(tc.name, func(t *testing.T) { testCleanUpEarlierRuns(t, tc.omits, tc.why) })
	}
}

func testCleanUpEarlierRuns(t *testing.T, headOmits []string, why string) {
	srv, o := startSandbox(t)
	o.runID = newRunID(time.Now())
	foreign, oldOwn, youngOwn := sharedInbox(t, srv, o.runID)
	w := newWire(t, srv, &o)
	w.headOmits = headOmits
	o.CleanUpEarlierRuns = true
	o.LabelFilter = LabelHandshake

	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	er := r.Cleanup.Earlier
	if er == nil || len(er.Acknowledged) != 1 || !strings.HasPrefix(er.Acknowledged[0], oldOwn) || r.Cleanup.Drained != 1 {
		t.Fatalf("earlier runs %+v: want exactly %s acknowledged", er, oldOwn)
	}
	refused := strings.Join(er.Refused, "\n")
	mustRefuse := []string{youngOwn}
	if why != "" {
		mustRefuse = append(mustRefuse, strings.Split(foreign, ",")[:2]...)
	}
	for _, id := range mustRefuse {
		if !strings.Contains(refused, id) {
			t.Errorf("%s not listed as refused:\n%s", id, refused)
		}
	}
	if !strings.Contains(refused, why) || !strings.Contains(refused, "may still be going") {
		t.Errorf("refusals do not say why:\n%s", refused)
	}
	for _, id := range append(strings.Split(foreign, ","), youngOwn) {
		if got := w.touched(id); len(got) > 0 {
			t.Errorf("message %s was touched: %v", id, got)
		}
	}
	if er.Waiting != 1 {
		t.Errorf("waiting %d, want the young run's one", er.Waiting)
	}
}

func sameIDs(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[i] = strings.ToUpper(v)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

// TestDoubleInterrupt interrupts a run twice at many points: the report
// always comes back, nothing foreign is touched, and every message of the
// run still in the inbox is named among the leftovers, with how to remove it.
func TestDoubleInterrupt(t *testing.T) {
	points := []struct{ first, second int }{
		{1, 1}, {2, 3}, {8, 8}, {15, 16}, {25, 26}, {33, 40}, {40, 40}, {52, 53}, {60, 62}, {75, 75}, {90, 91}, {120, 124}, {1000, 1000},
	}
	for _, p := range points {
		t.Run(fmt.Sprintf("at-%d-and-%d", p.first, p.second), func(t *testing.T) {
			srv, o := startSandbox(t)
			foreign := seed(t, srv, "X26ABC2", "X26ABC1", LocalIDPrefix+newRunID(time.Now())+"-basic")
			w := newWire(t, srv, &o)
			soft, cancelSoft := context.WithCancel(context.Background())
			hard, cancelHard := context.WithCancel(context.Background())
			defer cancelSoft()
			defer cancelHard()
			w.onReq = func(n int, _ *http.Request) {
				if n == p.first {
					cancelSoft()
				}
				if n == p.second {
					cancelHard()
				}
			}
			start := time.Now()
			r, err := Run(WithHardStop(soft, hard), o)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("the run took %s after its interrupts", d)
			}
			if got := w.touched(foreign); len(got) > 0 {
				t.Errorf("foreign message touched: %v", got)
			}
			left := strings.Join(r.Cleanup.Leftovers, "\n")
			c := client(t, srv, "X26ABC1")
			for _, id := range inbox(t, srv, "X26ABC1") {
				if strings.EqualFold(id, foreign) {
					continue
				}
				info, err := c.Head(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(left, id) && !strings.Contains(left, "local ID "+info.LocalID+":") {
					t.Errorf("message %s left in the inbox, not named among the leftovers %q (clean-up %+v)", id, left, r.Cleanup)
				}
			}
			if len(r.Cleanup.Leftovers) > 0 && r.Cleanup.Remove == "" {
				t.Errorf("leftovers without how to remove them")
			}
			if r.Cleanup.Acknowledged+len(r.Cleanup.Leftovers)+len(r.Cleanup.Incomplete) < r.Cleanup.Sent {
				t.Errorf("clean-up %+v does not account for every message sent", r.Cleanup)
			}
			if r.RunID == "" || r.Summary.OK == (soft.Err() != nil) {
				t.Errorf("run %q summary %+v", r.RunID, r.Summary)
			}
		})
	}
}

// TestServerKilledMidRun: the server dies in the middle: the run ends in
// seconds, names the one cause, and the clean-up names what it could not
// acknowledge.
func TestServerKilledMidRun(t *testing.T) {
	srv, o := startSandbox(t)
	ctx := context.Background()
	var once sync.Once
	o.Progress = progressHook{id: "MESH-RECEIVE-002", fn: func() { once.Do(func() { srv.Close() }) }}
	start := time.Now()
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the run lasted %s after the server died", d)
	}
	if !strings.Contains(r.RootCause, "stopped answering") {
		t.Errorf("root cause %q", r.RootCause)
	}
	if len(r.Cleanup.Leftovers) == 0 || !strings.Contains(strings.Join(r.Cleanup.Leftovers, "\n"), "could not be reached") {
		t.Errorf("clean-up %+v: want the unacknowledged message named, MESH unreachable", r.Cleanup)
	}
	if s := byID(r)["MESH-ERROR-007"]; s.Status != StatusSkipped || !strings.Contains(s.Failure, "stopped answering") {
		t.Errorf("last spec %s: %s", s.Status, s.Failure)
	}
}

type progressHook struct {
	id string
	fn func()
}

func (p progressHook) Write(b []byte) (int, error) {
	if strings.Contains(string(b), p.id) {
		p.fn()
	}
	return len(b), nil
}

// TestCutOffSendIsOwned: MESH took a message but its answer never reached
// the run (the connection dropped), so the run never learnt the id. The
// clean-up still finds and acknowledges it, whether HEAD names the sender
// and local ID or (as an implementation may) leaves them to GET: then the
// sender's own tracking, which answers only for what it sent, proves it.
// Another sender's message imitating the run's local ID is never touched.
func TestCutOffSendIsOwned(t *testing.T) {
	for _, tc := range []struct {
		name  string
		omits []string
		// trackSender: the tracking answer names another sender, so the
		// message cannot be shown to be the run's: left, and named.
		trackSender string
	}{
		{"full HEAD", nil, ""},
		{"HEAD without mex-From", []string{mesh.HeaderFrom}, ""},
		{"HEAD without mex-From, mex-LocalID, mex-Subject", []string{mesh.HeaderFrom, mesh.HeaderLocalID, mesh.HeaderSubject}, ""},
		{"HEAD without mex-From, tracking naming another sender", []string{mesh.HeaderFrom}, "X26ABC9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, o := startSandbox(t)
			o.runID = newRunID(time.Now())
			o.Focus = []string{"MESH-SEND-001"}
			foreign := seed(t, srv, "X26ABC2", "X26ABC1", LocalIDPrefix+o.runID+"-basic")
			w := newWire(t, srv, &o)
			w.headOmits, w.trackSender = tc.omits, tc.trackSender
			w.cut = func(_ int, r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/outbox")
			}
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.touched(foreign); len(got) > 0 {
				t.Errorf("another sender's message was touched: %v", got)
			}
			after := inbox(t, srv, "X26ABC1")
			if tc.trackSender != "" {
				if len(after) != 2 || r.Cleanup.Acknowledged != 0 || len(r.Cleanup.Leftovers) != 1 || !strings.Contains(r.Cleanup.Leftovers[0], "cut off") {
					t.Errorf("inbox %v, clean-up %+v: want the unproven message left and named", after, r.Cleanup)
				}
				return
			}
			if !sameIDs(after, []string{foreign}) {
				t.Errorf("inbox after the run %v, want only the other sender's %s", after, foreign)
			}
			if len(r.Cleanup.Leftovers) > 0 || r.Cleanup.Acknowledged != 1 {
				t.Errorf("clean-up %+v: want the cut-off message acknowledged, nothing left", r.Cleanup)
			}
		})
	}
}

// TestSecondInterruptDuringAck: the second interrupt comes while an
// acknowledgement is on its way, and MESH takes it. The run cannot know;
// the report names that message as possibly acknowledged already, and
// the others, whose acknowledgement never started, as left behind.
func TestSecondInterruptDuringAck(t *testing.T) {
	srv, o := startSandbox(t)
	o.Focus = []string{"MESH-PAGE-001"}
	w := newWire(t, srv, &o)
	soft, cancelSoft := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelSoft()
	defer cancelHard()
	w.cut = func(_ int, r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/status/acknowledged")
	}
	w.onCut = func(r *http.Request) {
		cancelSoft()
		cancelHard()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	r, err := Run(WithHardStop(soft, hard), o)
	if err != nil {
		t.Fatal(err)
	}
	waiting := inbox(t, srv, "X26ABC1")
	if r.Cleanup.Sent < 2 || len(waiting) != r.Cleanup.Sent-1 {
		t.Fatalf("%d sent, inbox holds %v: want all but the one whose acknowledgement MESH took", r.Cleanup.Sent, waiting)
	}
	var underWay, left int
	for _, l := range r.Cleanup.Leftovers {
		switch {
		case strings.Contains(l, "under way"):
			underWay++
		case strings.Contains(l, "stopped by a second interrupt"):
			left++
		}
	}
	if underWay != 1 || left != len(waiting) || !r.Cleanup.Abandoned {
		t.Errorf("leftovers %q (abandoned %v): want one named as possibly acknowledged already, %d as left behind", r.Cleanup.Leftovers, r.Cleanup.Abandoned, len(waiting))
	}
}
