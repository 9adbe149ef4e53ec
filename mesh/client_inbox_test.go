package mesh

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// fill puts n messages for the recipient in the fake and returns their ids.
func (f *clFake) fill(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.put(clSender, clRecipient, nil, "", []byte("m"))
	}
	return ids
}

func TestClientListInbox(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			ids := f.fill(3)
			c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = v })
			page, err := c.ListInbox(context.Background(), ListOptions{MaxResults: 10, WorkflowFilter: "TEST*"})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(page.Messages, ids) || page.Next != "" || page.ContinueFrom != "" {
				t.Errorf("page = %+v", page)
			}
			wantCount := []int{0, -1, 3}[v]
			if page.ApproxInboxCount != wantCount {
				t.Errorf("ApproxInboxCount = %d, want %d", page.ApproxInboxCount, wantCount)
			}
			q := f.requestsTo(http.MethodGet, "/inbox")[0].Query
			if q != "max_results=10&workflow_filter=TEST%2A" {
				t.Errorf("query %q", q)
			}
		})
	}
}

// v2 pages are followed through links.next, a path relative to the host.
func TestClientListAllV2FollowsRelativeLinks(t *testing.T) {
	f := newClFake(t)
	srv := f.start()
	ids := f.fill(25)
	// BaseURL with the tolerated /messageexchange suffix: the link must
	// still resolve against scheme and host only.
	c := f.client(srv, clRecipient, func(cfg *Config) { cfg.BaseURL = srv.URL + "/messageexchange/" })
	page, err := c.ListInbox(context.Background(), ListOptions{MaxResults: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.Next, "/messageexchange/") || len(page.ContinueFrom) < 24 {
		t.Fatalf("first page: next %q continue_from %q", page.Next, page.ContinueFrom)
	}
	// ContinueFrom works as an option too.
	second, err := c.ListInbox(context.Background(), ListOptions{MaxResults: 10, ContinueFrom: page.ContinueFrom})
	if err != nil || !slices.Equal(second.Messages, ids[10:20]) {
		t.Fatalf("second page: %v %v", second.Messages, err)
	}
	all, err := c.ListAll(context.Background(), ListOptions{MaxResults: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, ids) {
		t.Fatalf("got %d ids, want %d", len(all), len(ids))
	}
	gets := f.requestsTo(http.MethodGet, "/inbox")
	if len(gets) != 2+3 {
		t.Errorf("%d list requests, want 5", len(gets))
	}
	for _, g := range gets {
		if g.Path != "/messageexchange/"+clRecipient+"/inbox" {
			t.Errorf("listing went to %s", g.Path)
		}
	}
}

// v1 asks again from the last id while pages come back full.
func TestClientListAllV1ContinuesFromLastID(t *testing.T) {
	for _, n := range []int{25, 30, 9, 0} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			ids := f.fill(n)
			c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = 1 })
			all, err := c.ListAll(context.Background(), ListOptions{MaxResults: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(all, ids) {
				t.Fatalf("got %v, want %v", all, ids)
			}
			gets := f.requestsTo(http.MethodGet, "/inbox")
			if want := n/10 + 1; len(gets) != want {
				t.Errorf("%d list requests, want %d", len(gets), want)
			}
			if n > 10 && gets[1].Query != "continue_from="+ids[9]+"&max_results=10" {
				t.Errorf("second query %q", gets[1].Query)
			}
		})
	}
}

func TestClientListAllStopsWhenMESHDoesNotAdvance(t *testing.T) {
	for _, v := range []int{1, 2} {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("ID%02d", i)
			}
			page := InboxV2{Messages: ids}
			page.Links.Next = "/messageexchange/" + clRecipient + "/inbox?continue_from=same"
			clWriteJSON(w, http.StatusOK, page)
			return true
		}
		c := f.client(f.start(), clRecipient, func(cfg *Config) { cfg.APIVersion = v })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.ListAll(ctx, ListOptions{MaxResults: 10})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "not advancing") {
			t.Errorf("v%d: err = %v", v, err)
		}
	}
}

// links.next is followed whether relative or absolute, but only on the
// same host, and always over BaseURL's scheme.
func TestClientResolveLink(t *testing.T) {
	c, err := NewClient(Config{BaseURL: "https://msg.intspineservices.nhs.uk/messageexchange", Credentials: clCreds(clRecipient)})
	if err != nil {
		t.Fatal(err)
	}
	const from = "/messageexchange/X26ABC2/inbox"
	tests := []struct {
		link, path, query, err string
	}{
		{"/messageexchange/X26ABC2/inbox?max_results=10&continue_from=abc", from, "max_results=10&continue_from=abc", ""},
		{"https://msg.intspineservices.nhs.uk/messageexchange/X26ABC2/inbox?continue_from=x", from, "continue_from=x", ""},
		{"https://MSG.intspineservices.nhs.uk:443/messageexchange/X26ABC2/inbox?continue_from=x", from, "continue_from=x", ""},
		// Behind a TLS terminator the server may write http://: the path
		// is taken, the request still goes over https.
		{"http://msg.intspineservices.nhs.uk/messageexchange/X26ABC2/inbox?continue_from=x", from, "continue_from=x", ""},
		{"//msg.intspineservices.nhs.uk/messageexchange/X26ABC2/inbox?continue_from=x", from, "continue_from=x", ""},
		// Relative references resolve against the page that gave them.
		{"inbox?continue_from=x", from, "continue_from=x", ""},
		{"?continue_from=y", from, "continue_from=y", ""},
		{"https://evil.example/messageexchange/X26ABC2/inbox", "", "", "points away"},
		{"https://msg.intspineservices.nhs.uk:8443/messageexchange/X26ABC2/inbox", "", "", "points away"},
		{"https://msg.intspineservices.nhs.uk.evil.example/messageexchange/X26ABC2/inbox", "", "", "points away"},
		{"ftp://msg.intspineservices.nhs.uk/messageexchange/X26ABC2/inbox", "", "", "not an http(s) link"},
		{"/elsewhere/inbox", "", "", "not a /messageexchange path"},
		{"../../elsewhere", "", "", "not a /messageexchange path"},
	}
	for _, tt := range tests {
		path, query, err := c.resolveLink(from, tt.link)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.link, err, tt.err)
			}
			continue
		}
		if err != nil || path != tt.path || query != tt.query {
			t.Errorf("%s: %q %q %v", tt.link, path, query, err)
		}
	}
	// A BaseURL with a port: an absolute link must carry it.
	c8700, err := NewClient(Config{BaseURL: "https://127.0.0.1:8700", Credentials: clCreds(clRecipient)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c8700.resolveLink(from, "https://127.0.0.1:8700/messageexchange/X26ABC2/inbox?continue_from=x"); err != nil {
		t.Errorf("same host and port: %v", err)
	}
	if _, _, err := c8700.resolveLink(from, "https://127.0.0.1/messageexchange/X26ABC2/inbox"); err == nil {
		t.Error("a link to the default port was followed for a BaseURL on port 8700")
	}
}

func TestClientCount(t *testing.T) {
	for _, v := range []int{1, 2} {
		f := newClFake(t)
		srv := f.start()
		f.fill(4)
		c := f.client(srv, clRecipient, func(cfg *Config) { cfg.APIVersion = v })
		n, err := c.Count(context.Background())
		if err != nil || n != 4 {
			t.Errorf("v%d: Count = %d, %v", v, n, err)
		}
	}
}

func TestClientTrack(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			f := newClFake(t)
			srv := f.start()
			sender := f.client(srv, clSender, func(cfg *Config) { cfg.APIVersion = v })
			id, err := sender.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow, LocalID: "L-7", FileName: "a.txt"}, strings.NewReader("x"), 1)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sender.Track(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if tr.MessageID != id || tr.Status != "accepted" || tr.LocalID != "L-7" || tr.WorkflowID != clWorkflow ||
				tr.Recipient != clRecipient || tr.FileName != "a.txt" || tr.StatusSuccess == nil || !*tr.StatusSuccess {
				t.Errorf("tracking = %+v", tr)
			}
			if (v == 1) != (tr.V1 != nil) || (v == 2) != (tr.V2 != nil) {
				t.Errorf("raw answer: V1 %v V2 %v", tr.V1 != nil, tr.V2 != nil)
			}
			wantStatus := time.Date(2024, 1, 1, 12, 1, 2, 0, time.UTC)
			if v == 2 {
				wantStatus = wantStatus.Add(500 * time.Millisecond)
			}
			if !tr.StatusTime.Equal(wantStatus) || tr.UploadTime.IsZero() || tr.ExpiryTime.IsZero() {
				t.Errorf("times: status %s upload %s expiry %s", tr.StatusTime, tr.UploadTime, tr.ExpiryTime)
			}
			if v == 1 && (tr.MessageType != MessageTypeData || tr.Sender != clSender || tr.ChunkCount != 1) {
				t.Errorf("v1 fields: %+v", tr)
			}
			q := f.requestsTo(http.MethodGet, "/outbox/tracking")[0].Query
			if q != "messageID="+id {
				t.Errorf("query %q", q)
			}
			_, err = sender.Track(context.Background(), "20990101000000000000_FFFFFF")
			if e, ok := AsAPIError(err); !ok || e.StatusCode != http.StatusNotFound {
				t.Errorf("unknown id: %v", err)
			}
		})
	}
}

func TestClientParseMeshTime(t *testing.T) {
	want := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, s := range []string{"2024-03-04T05:06:07Z", "2024-03-04T05:06:07", "2024-03-04T05:06:07.000", "20240304050607", "2024-03-04 05:06:07"} {
		if got := parseMeshTime(s); !got.Equal(want) {
			t.Errorf("%q: %s", s, got)
		}
	}
	if !parseMeshTime("").IsZero() || !parseMeshTime("soon").IsZero() {
		t.Error("unreadable times are not zero")
	}
}

func TestClientLookup(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			f := newClFake(t)
			c := f.client(f.start(), clSender, func(cfg *Config) { cfg.APIVersion = v })
			ctx := context.Background()
			refs, err := c.LookupEndpoint(ctx, "X26", clWorkflow)
			if err != nil || len(refs) != 1 || refs[0].MailboxID != clRecipient || refs[0].MailboxName != "TESTMB2" {
				t.Fatalf("lookup: %+v %v", refs, err)
			}
			if want := []string{"", "MESH", ""}[v]; refs[0].EndpointType != want {
				t.Errorf("endpoint type %q", refs[0].EndpointType)
			}
			refs, err = c.SearchWorkflow(ctx, "WORK FLOW")
			if err != nil || len(refs) != 1 || refs[0].MailboxID != clRecipient {
				t.Fatalf("search: %+v %v", refs, err)
			}
			refs, err = c.LookupEndpoint(ctx, "X26", "NONE")
			if err != nil || len(refs) != 0 {
				t.Fatalf("no match: %+v %v", refs, err)
			}
			paths := []string{}
			for _, r := range f.requests() {
				paths = append(paths, r.Path)
			}
			if paths[0] != "/messageexchange/endpointlookup/X26/"+clWorkflow || paths[1] != "/messageexchange/workflowsearch/WORK FLOW" {
				t.Errorf("paths %q", paths)
			}
			if _, err := c.LookupEndpoint(ctx, "", clWorkflow); err == nil {
				t.Error("empty ODS code accepted")
			}
		})
	}
}
