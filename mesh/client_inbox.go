package mesh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListOptions select a page of the inbox.
type ListOptions struct {
	// MaxResults is the page size (max_results, 10-5000 for MESH); 0 leaves
	// MESH's default of 500.
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
	// inbox (v2); -1 in v1, which does not give it.
	ApproxInboxCount int
	// Next is the v2 links.next exactly as MESH sent it: a path relative to
	// the host. Empty when there are no more pages, and always in v1.
	Next string
	// ContinueFrom is what to put in ListOptions.ContinueFrom for the next
	// page, or "" when this was the last: the continue_from of Next in v2,
	// the last id of a full page in v1.
	ContinueFrom string
}

// defaultPageSize is MESH's page size when max_results is not given.
const defaultPageSize = 500

// ListInbox lists one page of the inbox.
func (c *Client) ListInbox(ctx context.Context, opts ListOptions) (InboxPage, error) {
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
	if c.version == 1 && len(page.Messages) > 0 && len(page.Messages) >= pageSize(opts) {
		page.ContinueFrom = page.Messages[len(page.Messages)-1]
	}
	return page, nil
}

func pageSize(opts ListOptions) int {
	if opts.MaxResults > 0 {
		return opts.MaxResults
	}
	return defaultPageSize
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
	var v InboxV2
	if err := c.readJSON(r, resp, &v); err != nil {
		return InboxPage{}, err
	}
	page := InboxPage{Messages: v.Messages, ApproxInboxCount: v.ApproxInboxCount, Next: v.Links.Next}
	if v.Links.Next != "" {
		if u, err := url.Parse(v.Links.Next); err == nil {
			page.ContinueFrom = u.Query().Get("continue_from")
		}
	}
	return page, nil
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
	for page.Next != "" {
		prev := page.Next
		path, query, err := c.resolveLink(prev)
		if err != nil {
			return ids, err
		}
		if page, err = c.inboxPage(ctx, path, query); err != nil {
			return ids, err
		}
		ids = append(ids, page.Messages...)
		if page.Next == prev {
			return ids, fmt.Errorf("mesh: inbox links.next %q points at itself: MESH is not advancing", prev)
		}
	}
	return ids, nil
}

// resolveLink turns a links.next value into a path and query on BaseURL's
// host. MESH sends a path relative to the host; NHS's Python client once
// requested it without the host (its bug #60). A link to another host is
// refused: it would be sent the client certificate and a token.
func (c *Client) resolveLink(link string) (path, query string, err error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", fmt.Errorf("mesh: inbox links.next %q is not a URL: %v", link, err)
	}
	if u.Host != "" && (!strings.EqualFold(u.Host, c.host) || (u.Scheme != "" && !strings.EqualFold(u.Scheme, c.scheme))) {
		return "", "", fmt.Errorf("mesh: inbox links.next %q points away from %s://%s; not followed", link, c.scheme, c.host)
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, PathPrefix+"/") {
		return "", "", fmt.Errorf("mesh: inbox links.next %q is not a %s path", link, PathPrefix)
	}
	return p, u.RawQuery, nil
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
		Count *int `json:"count"`
	}
	if err := c.readJSON(r, resp, &v); err != nil {
		return 0, err
	}
	if v.Count == nil {
		return 0, fmt.Errorf("%s %s: answer has no count", r.method, r.path)
	}
	return *v.Count, nil
}
