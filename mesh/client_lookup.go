package mesh

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// MailboxRef is a mailbox found by an endpoint lookup or a workflow search.
type MailboxRef struct {
	MailboxID   string
	MailboxName string
	// EndpointType is "MESH" in v1 lookups; empty otherwise.
	EndpointType string
}

// LookupEndpoint finds the mailboxes of an organisation (ODS code) that
// receive a workflow (GET /messageexchange/endpointlookup/{ods}/{workflow}).
// No match is an empty list, not an error.
func (c *Client) LookupEndpoint(ctx context.Context, ods, workflow string) ([]MailboxRef, error) {
	if ods == "" || workflow == "" {
		return nil, errors.New("mesh: LookupEndpoint needs an ODS code and a workflow id")
	}
	return c.lookup(ctx, PathPrefix+"/endpointlookup/"+url.PathEscape(ods)+"/"+url.PathEscape(workflow))
}

// SearchWorkflow finds the mailboxes that receive a workflow (GET
// /messageexchange/workflowsearch/{workflow}).
func (c *Client) SearchWorkflow(ctx context.Context, workflow string) ([]MailboxRef, error) {
	if workflow == "" {
		return nil, errors.New("mesh: SearchWorkflow needs a workflow id")
	}
	return c.lookup(ctx, PathPrefix+"/workflowsearch/"+url.PathEscape(workflow))
}

// lookup reads either answer shape: MESH gives the workflow search its v2
// shape whatever the version asked, so both are read in both versions.
func (c *Client) lookup(ctx context.Context, path string) ([]MailboxRef, error) {
	r := &request{method: http.MethodGet, path: path, retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	var v struct {
		Results []struct {
			LookupResultV1
			LookupResultV2
		} `json:"results"`
	}
	if err := c.readJSON(r, resp, &v); err != nil {
		return nil, err
	}
	refs := make([]MailboxRef, 0, len(v.Results))
	for _, res := range v.Results {
		ref := MailboxRef{MailboxID: res.MailboxID, MailboxName: res.MailboxName, EndpointType: res.EndpointType}
		if ref.MailboxID == "" {
			ref.MailboxID = res.Address
		}
		if ref.MailboxName == "" {
			ref.MailboxName = res.Description
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
