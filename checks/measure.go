package checks

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Measurements are the numbers a run observed, for monitoring (the
// exporter's gauges): what a check's evidence says in words, as values.
// A field is left zero (and its Known flag false) when the run did not
// observe it.
type Measurements struct {
	// ServerLeaf is the leaf certificate the server presented (nil when
	// there was no TLS handshake); ClientLeaf ours, as the keystore checks
	// loaded it (nil when it did not load).
	ServerLeaf, ClientLeaf *CertExpiry
	// ClockOffset is MESH's Date minus this machine's clock at the middle
	// of the exchange (positive: this machine is behind).
	ClockOffset      time.Duration
	ClockOffsetKnown bool
	// InboxMessages are the messages waiting (MESH's approximate count
	// when it gives one); InboxOldest the time of the oldest (zero when
	// unknown or the inbox is empty).
	InboxMessages int
	InboxKnown    bool
	InboxOldest   time.Time
	// ProxyLoginRefused: the proxy refused the credentials given. A
	// monitor must not ask again at once: each refusal counts toward
	// locking the (Windows) account.
	ProxyLoginRefused bool
}

// CertExpiry is the part of a certificate a monitor watches.
type CertExpiry struct {
	Subject  string
	NotAfter time.Time
}

// inboxCount is mesh.inbox's observation, kept for Measurements.
type inboxCount struct {
	messages int
	oldest   time.Time
}

// Measurements reads what the finished run observed. It never makes an
// observation: call it after Run/RunWith.
func (f *Facts) Measurements() Measurements {
	var m Measurements
	if t, ok := peek[*TLSFacts](f, "tls"); ok && t != nil && len(t.Presented) > 0 {
		leaf := t.Presented[0]
		m.ServerLeaf = &CertExpiry{Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter}
	}
	if id, ok := peek[*identityFacts](f, "identity"); ok && id != nil && id.Loaded() {
		if leaf := id.Entry.Leaf(); leaf != nil {
			m.ClientLeaf = &CertExpiry{Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter}
		}
	}
	if x, ok := peek[*ExchangeFacts](f, "exchange"); ok && x != nil && x.Header != nil {
		if server, err := http.ParseTime(x.Header.Get("Date")); err == nil {
			// Date is truncated to the second, so the server's clock was on
			// average half a second past it: without that the offset of a
			// perfectly synchronised machine reads -0.5 s, rounded to -1 s.
			mid := x.Sent.Add(x.Received.Sub(x.Sent) / 2)
			m.ClockOffset = server.Add(time.Second / 2).Sub(mid).Round(100 * time.Millisecond)
			m.ClockOffsetKnown = true
		}
	}
	if c, ok := peek[inboxCount](f, "inbox"); ok {
		m.InboxMessages, m.InboxOldest, m.InboxKnown = c.messages, c.oldest, true
	}
	if t, ok := peek[*TCPFacts](f, "tcp"); ok && t != nil {
		var te *mesh.TunnelError
		m.ProxyLoginRefused = errors.As(t.ProxyErr, &te) && te.Kind == mesh.TunnelAuthRefused
	}
	return m
}

// peek returns a finished observation without waiting or making one.
func peek[T any](f *Facts, key string) (T, bool) {
	var zero T
	f.mu.Lock()
	o, found := f.obs[key]
	f.mu.Unlock()
	if !found {
		return zero, false
	}
	select {
	case <-o.done:
		v, ok := o.value.(T)
		return v, ok
	default:
		return zero, false
	}
}

// recordInbox keeps mesh.inbox's finding as an observation, for
// Measurements.
func recordInbox(ctx context.Context, f *Facts, c inboxCount) {
	Observe(ctx, f, "inbox", func(context.Context) inboxCount { return c })
}
