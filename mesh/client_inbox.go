package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListOptions select a page of the inbox.
type ListOptions struct {
	// MaxResults is the page size (max_results): 10 to 5000, as MESH
	// allows; 0 leaves MESH's default of 500. ListInbox refuses any other
	// value before asking MESH.
	MaxResults int
	// WorkflowFilter filters on the workflow id (workflow_filter): "WF"
	// equals, "!WF" differs, "WF*" begins with, "*X*" contains, and their
	// "!" negations.
	WorkflowFilter string
	// ContinueFrom starts after an earlier page (continue_from): in v2 the
	// token of that page's next link, in v1 the last message id it listed.
	// InboxPage.ContinueFrom holds the right value for either.
	ContinueFrom string
}

// InboxPage is one page of the inbox listing.
type InboxPage struct {
	// Messages are the ids ready for download, oldest first.
	Messages []string
	// ApproxInboxCount is MESH's eventually consistent count of the whole
	// inbox (v2); -1 when MESH did not give it (always in v1).
	ApproxInboxCount int
	// Next is the v2 links.next exactly as MESH sent it: usually a path
	// relative to the host. Empty when there are no more pages, and always
	// in v1.
	Next string
	// ContinueFrom is what to put in ListOptions.ContinueFrom for the next
	// page, or "" when this was the last: the continue_from of Next in v2,
	// the last id of a full page in v1.
	ContinueFrom string
}

// MESH's page sizes (mesh-api.md §3.5): max_results must lie in
// [minPageSize, maxPageSize]; without it MESH sends up to defaultPageSize
// ids. A v1 answer never holds more than v1PageLimit ids.
const (
	defaultPageSize = 500
	minPageSize     = 10
	maxPageSize     = 5000
	v1PageLimit     = 500
)

// ListInbox lists one page of the inbox.
func (c *Client) ListInbox(ctx context.Context, opts ListOptions) (InboxPage, error) {
	if err := opts.check(); err != nil {
		return InboxPage{}, err
	}
	q := url.Values{}
	if opts.MaxResults > 0 {
		q.Set("max_results", strconv.Itoa(opts.MaxResults))
	}
	if opts.WorkflowFilter != "" {
		q.Set("workflow_filter", opts.WorkflowFilter)
	}
	if opts.ContinueFrom != "" {
		q.Set("continue_from", opts.ContinueFrom)
	}
	page, err := c.inboxPage(ctx, c.mailboxPath+"/inbox", q.Encode())
	if err != nil {
		return InboxPage{}, err
	}
	// v1 has no next link: a full page means "ask again from the last id"
	// (the SPEC's poll cycle: exactly 500 ids, poll again). A page is full
	// at the size asked for, or at v1's cap of 500 whatever was asked.
	if c.version == 1 && len(page.Messages) > 0 && len(page.Messages) >= min(pageSize(opts), v1PageLimit) {
		page.ContinueFrom = page.Messages[len(page.Messages)-1]
	}
	return page, nil
}

// check refuses options MESH would refuse (400), with a clearer message.
func (o ListOptions) check() error {
	if o.MaxResults != 0 && (o.MaxResults < minPageSize || o.MaxResults > maxPageSize) {
		return fmt.Errorf("mesh: ListOptions.MaxResults %d is out of range: MESH accepts max_results from %d to %d (0 leaves its default of %d)",
			o.MaxResults, minPageSize, maxPageSize, defaultPageSize)
	}
	return nil
}

func pageSize(opts ListOptions) int {
	if opts.MaxResults > 0 {
		return opts.MaxResults
	}
	return defaultPageSize
}

// inboxV2 is the v2 listing as the client reads it: links may be null or
// missing, and approx_inbox_count missing, null, a number or a numeric
// string.
type inboxV2 struct {
	Messages []string `json:"messages"`
	Links    *struct {
		Next string `json:"next"`
	} `json:"links"`
	ApproxInboxCount json.RawMessage `json:"approx_inbox_count"`
}

// inboxPage fetches and decodes one listing.
func (c *Client) inboxPage(ctx context.Context, path, query string) (InboxPage, error) {
	r := &request{method: http.MethodGet, path: path, query: query, retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return InboxPage{}, err
	}
	if c.version == 1 {
		var v InboxV1
		if err := c.readJSON(r, resp, &v); err != nil {
			return InboxPage{}, err
		}
		return InboxPage{Messages: v.Messages, ApproxInboxCount: -1}, nil
	}
	var v inboxV2
	if err := c.readJSON(r, resp, &v); err != nil {
		return InboxPage{}, err
	}
	page := InboxPage{Messages: v.Messages, ApproxInboxCount: jsonCount(v.ApproxInboxCount)}
	if v.Links != nil {
		page.Next = strings.TrimSpace(v.Links.Next)
	}
	if page.Next != "" {
		if u, err := url.Parse(page.Next); err == nil {
			page.ContinueFrom = u.Query().Get("continue_from")
		}
	}
	return page, nil
}

// jsonCount reads a count that may be a number or a numeric string; -1
// when it is missing, null or unreadable.
func jsonCount(raw json.RawMessage) int {
	var n json.Number
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return -1
		}
		n = json.Number(strings.TrimSpace(s))
	}
	if i, err := n.Int64(); err == nil && i >= 0 && i <= math.MaxInt32 {
		return int(i)
	}
	return -1
}

// ListAll lists every message id in the inbox, page after page: in v2 it
// follows links.next (a path, resolved against BaseURL's scheme and host);
// in v1 it asks again from the last id while pages come back full.
func (c *Client) ListAll(ctx context.Context, opts ListOptions) ([]string, error) {
	page, err := c.ListInbox(ctx, opts)
	if err != nil {
		return nil, err
	}
	ids := page.Messages
	if c.version == 1 {
		for page.ContinueFrom != "" {
			last := page.ContinueFrom
			opts.ContinueFrom = last
			if page, err = c.ListInbox(ctx, opts); err != nil {
				return ids, err
			}
			ids = append(ids, page.Messages...)
			if page.ContinueFrom == last {
				return ids, fmt.Errorf("mesh: inbox listing from %q returned the same last id again: MESH is not advancing", last)
			}
		}
		return ids, nil
	}
	// pagePath is where the current page came from: a relative next link
	// resolves against it.
	pagePath := c.mailboxPath + "/inbox"
	for page.Next != "" {
		prev := page.Next
		path, query, err := c.resolveLink(pagePath, prev)
		if err != nil {
			return ids, err
		}
		if page, err = c.inboxPage(ctx, path, query); err != nil {
			return ids, err
		}
		pagePath = path
		ids = append(ids, page.Messages...)
		if page.Next == prev {
			return ids, fmt.Errorf("mesh: inbox links.next %q points at itself: MESH is not advancing", c.excerpt(nil, []byte(prev)))
		}
	}
	return ids, nil
}

// resolveLink turns a links.next value into a path and query on BaseURL's
// host. MESH sends a path relative to the host (NHS's Python client once
// requested it without the host: its bug #60); a relative reference is
// resolved against from, the escaped path of the page that gave it. An
// absolute link is followed only on the same host (the default port
// implied or written), and always over BaseURL's scheme: a server behind
// a TLS terminator may write http:// links, but the client never leaves
// https. A link to another host is refused: it would be sent the client
// certificate and a token.
func (c *Client) resolveLink(from, link string) (path, query string, err error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", fmt.Errorf("mesh: inbox links.next %q is not a URL", c.excerpt(nil, []byte(link)))
	}
	if u.Host != "" || u.Scheme != "" {
		if u.Scheme != "" && !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http") {
			return "", "", fmt.Errorf("mesh: inbox links.next %q is not an http(s) link; not followed", c.excerpt(nil, []byte(link)))
		}
		if !sameHost(u, c.scheme, c.host) {
			return "", "", fmt.Errorf("mesh: inbox links.next %q points away from %s://%s; not followed", c.excerpt(nil, []byte(link)), c.scheme, c.host)
		}
	} else {
		base := &url.URL{Path: from}
		if p, err := url.PathUnescape(from); err == nil && p != from {
			base.Path, base.RawPath = p, from
		}
		u = base.ResolveReference(u)
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, PathPrefix+"/") {
		return "", "", fmt.Errorf("mesh: inbox links.next %q is not a %s path", c.excerpt(nil, []byte(link)), PathPrefix)
	}
	return p, u.RawQuery, nil
}

// sameHost reports whether u names the host of BaseURL (scheme://host).
// A port left out means the default one; when neither gives a port the
// scheme does not matter (an http:// link from behind a TLS terminator).
func sameHost(u *url.URL, scheme, host string) bool {
	base, err := url.Parse(scheme + "://" + host)
	if err != nil || !strings.EqualFold(u.Hostname(), base.Hostname()) {
		return false
	}
	lp, bp := u.Port(), base.Port()
	if lp == "" && bp == "" {
		return true
	}
	linkScheme := u.Scheme
	if linkScheme == "" {
		linkScheme = scheme
	}
	if lp == "" {
		lp = defaultPort(linkScheme)
	}
	if bp == "" {
		bp = defaultPort(scheme)
	}
	return lp == bp
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "http") {
		return "80"
	}
	return "443"
}

// Count returns the number of messages in the inbox. MESH has deprecated
// the endpoint; ListInbox's ApproxInboxCount replaces it in v2.
func (c *Client) Count(ctx context.Context) (int, error) {
	r := &request{method: http.MethodGet, path: c.mailboxPath + "/count", retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	var v struct {
		Count json.RawMessage `json:"count"` // a number, or a numeric string
	}
	if err := c.readJSON(r, resp, &v); err != nil {
		return 0, err
	}
	n := jsonCount(v.Count)
	if n < 0 {
		return 0, fmt.Errorf("%s %s: answer has no count", r.method, r.path)
	}
	return n, nil
}
