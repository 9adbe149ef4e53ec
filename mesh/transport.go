package mesh

import (
	"net/http"
	"strings"
)

// NewTransport is the transport NewClient would build for cfg (its TLS,
// proxy and connection settings), for a caller that wraps it — to observe
// every exchange of several clients, say — and hands it back as
// Config.Transport.
func NewTransport(cfg Config) *http.Transport {
	return newTransport(cfg, !strings.HasPrefix(strings.ToLower(strings.TrimSpace(cfg.BaseURL)), "http:"))
}
