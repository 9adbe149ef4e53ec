package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// observer sees every exchange of a run, whichever client made it, so that
// a run where everything failed the same way says so once ("MESH answered
// 500 to every request") instead of in a failure per spec.
type observer struct {
	next http.RoundTripper

	mu       sync.Mutex
	requests int
	answered int // answered below 500
	fivexx   int
	status   int // the last 5xx status
	dropped  int // the connection closed or reset mid-exchange
	failed   int // no connection at all (refused, unreachable, TLS)
	lastErr  error
	// streak counts the requests since the last answer of any kind that
	// failed below HTTP: a server that died mid-run.
	streak int
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	o.record(req.Context(), resp, err)
	return resp, err
}

func (o *observer) record(ctx context.Context, resp *http.Response, err error) {
	if err != nil && ctx.Err() != nil {
		// Cancelled by the run (an interrupt, a spec's end): not MESH's doing.
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests++
	switch {
	case err == nil && resp.StatusCode >= 500:
		o.fivexx++
		o.status = resp.StatusCode
		o.streak = 0
	case err == nil:
		o.answered++
		o.streak = 0
	case isDropped(err):
		o.dropped++
		o.streak++
		o.lastErr = err
	default:
		o.failed++
		o.streak++
		o.lastErr = err
	}
}

// isDropped says the connection was there and went away: closed or reset
// mid-exchange, which is not "could not be reached".
func isDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// isConnectionLevel says a request failed below HTTP, with no answer.
func isConnectionLevel(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if isDropped(err) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// goneAfter is how many requests in a row may fail below HTTP before the
// run stops asking: MESH is gone (the server died, the network went).
const goneAfter = 6

// gone says why MESH is taken to be gone, "" while it answers.
func (o *observer) gone() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.streak < goneAfter {
		return ""
	}
	return fmt.Sprintf("the last %d requests got no answer (last: %v)", o.streak, o.lastErr)
}

// minRequestsForCause is how many requests must have failed alike before
// they are called one cause.
const minRequestsForCause = 3

// rootCause is one line naming what made every request fail, "" when the
// requests did not all fail the same way. bad is the number of specs that
// did not pass, each for this cause.
func (o *observer) rootCause(bad int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	specs := fmt.Sprintf("%d spec%s failed for this one cause", bad, plural(bad))
	switch {
	case o.requests < minRequestsForCause || bad == 0:
		return ""
	case o.fivexx == o.requests:
		return fmt.Sprintf("MESH answered %d %s to every one of the %d requests of the run (a server-side failure, not a conformance finding): %s",
			o.status, http.StatusText(o.status), o.requests, specs)
	case o.answered == 0 && o.dropped > 0:
		return fmt.Sprintf("the connection to MESH dropped: %d of the %d requests had their connection closed or reset mid-exchange and none was answered below 500 (last: %v): %s",
			o.dropped, o.requests, o.lastErr, specs)
	case o.answered == 0 && o.fivexx == 0:
		return fmt.Sprintf("MESH could not be reached for any of the %d requests (last: %v): %s", o.requests, o.lastErr, specs)
	case o.streak >= minRequestsForCause:
		return fmt.Sprintf("MESH stopped answering during the run: the last %d requests got no answer (last: %v); the specs that failed from then on failed for this one cause",
			o.streak, o.lastErr)
	}
	return ""
}
