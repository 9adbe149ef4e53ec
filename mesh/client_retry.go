package mesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/sockerr"
)

// retryable reports whether a failed attempt may succeed if made again: the
// statuses NHS's client retries (425, 429, 502, 503, 504) and connection
// failures (dial errors, resets, a connection closed before the answer).
// Certificate and TLS alert failures are final: retrying cannot change them.
func retryable(err error) bool {
	if e, ok := AsAPIError(err); ok {
		return e.Temporary()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *TunnelError
	if errors.As(err, &te) {
		// A proxy's refusal is its decision, the same a second later; and
		// each refused login counts toward locking the (Windows) account.
		// Only a proxy not reached, or one that could not reach MESH
		// (5xx), may answer otherwise on a new try.
		switch te.Kind {
		case TunnelUnreachable:
		case TunnelRefused:
			return te.Answer.Code >= 500
		default:
			return false
		}
	}
	var (
		verifyErr   *tls.CertificateVerificationError
		alert       tls.AlertError
		recordErr   tls.RecordHeaderError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.As(err, &verifyErr), errors.As(err, &alert), errors.As(err, &recordErr),
		errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return false
	case errors.As(err, &dnsErr):
		// A name that does not exist will not exist a second later.
		return !dnsErr.IsNotFound
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		sockerr.Reset(err), sockerr.Refused(err), sockerr.Aborted(err):
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}

// backoffFor is the wait after the given failed attempt: the base doubled
// for each earlier retry, capped.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, max(maxBackoff, c.backoff))
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter + time.Second
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
