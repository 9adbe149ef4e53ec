package mesh

import "net/http"

// NewTransport is the transport NewClient would build for cfg (its TLS,
// proxy and connection settings), for a caller that wraps it — to observe
// every exchange of several clients, say — and hands it back as
// Config.Transport.
func NewTransport(cfg Config) (*http.Transport, error) {
	scheme, host, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	return newTransport(cfg, scheme, host)
}
