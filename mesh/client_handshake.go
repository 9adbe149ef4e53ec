package mesh

import (
	"context"
	"net/http"
)

// Handshake validates the mailbox (POST /messageexchange/{mailbox}) with the
// mex-Client/OS headers MESH records; MESH asks for one a day. The body of
// the answer is ignored.
func (c *Client) Handshake(ctx context.Context) error {
	r := &request{method: http.MethodPost, path: c.mailboxPath, header: c.handshake.Clone(), retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// Ping calls GET /messageexchange/_ping, which needs no token: it proves
// the network path and TLS, not the credentials.
func (c *Client) Ping(ctx context.Context) error {
	r := &request{method: http.MethodGet, path: PathPrefix + "/_ping", noAuth: true, retry: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}
