package suites

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/meshdoctor/meshdoctor/internal/sockerr"
	"github.com/meshdoctor/meshdoctor/mesh"
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
	// failed below HTTP: a server that died mid-run; streakDropped how
	// many of them were dropped connections.
	streak, streakDropped int
	// sends are the first chunks the run posted, in order: what MESH said
	// of each is known here even when the caller was cancelled before it
	// read the answer.
	sends []sendSeen
}

// sendSeen is one message the run tried to send.
type sendSeen struct {
	localID, to string
	// id is the message id MESH gave it; "" when none came back.
	id string
	// refused: MESH answered, and not with 2xx: it did not take the
	// message.
	refused bool
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	first := req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/outbox")
	resp, err := o.next.RoundTrip(req)
	o.record(req.Context(), resp, err)
	if first {
		resp = o.recordSend(req, resp, err)
	}
	return resp, err
}

// recordSend notes what became of a first chunk. The answer to a 2xx is
// read here (it is small), so that the message id is kept even when the
// caller gives up on it.
func (o *observer) recordSend(req *http.Request, resp *http.Response, err error) *http.Response {
	s := sendSeen{localID: headerValue(req.Header, mesh.HeaderLocalID), to: headerValue(req.Header, mesh.HeaderTo)}
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		s.refused = true
	}
	if err == nil && !s.refused {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		var rest io.Reader = bytes.NewReader(nil)
		if rerr != nil {
			rest = errReader{rerr}
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), rest))
		s.id = sentID(b)
	}
	o.mu.Lock()
	o.sends = append(o.sends, s)
	o.mu.Unlock()
	return resp
}

func (o *observer) sendsSeen() []sendSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sends)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// headerValue reads a header whatever the case of its name (raw requests
// set mex-* names as written).
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (o *observer) record(ctx context.Context, resp *http.Response, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// Cancelled by the run (an interrupt, a spec's end): not MESH's
		// doing. A deadline passed is: MESH did not answer in time.
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests++
	switch {
	case err == nil && resp.StatusCode >= 500:
		o.fivexx++
		o.status = resp.StatusCode
		o.streak, o.streakDropped = 0, 0
	case err == nil:
		o.answered++
		o.streak, o.streakDropped = 0, 0
	case isDropped(err):
		o.dropped++
		o.streak++
		o.streakDropped++
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
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || sockerr.Reset(err) || sockerr.Aborted(err)
}

// isConnectionLevel says a request failed below HTTP, with no answer.
func isConnectionLevel(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if isDropped(err) || sockerr.Refused(err) || errors.As(err, new(noAnswerError)) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// goneAfter is how many requests in a row may fail below HTTP before the
// run stops asking: MESH is gone (the server died, the network went).
const goneAfter = 6

// gone says MESH is taken to be gone: the last requests got no answer.
func (o *observer) gone() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.streak >= goneAfter
}

// minRequestsForCause is how many requests must have failed alike before
// they are called one cause.
const minRequestsForCause = 3

// rootCause is one line naming what made every request fail, "" when the
// requests did not all fail the same way. bad is the number of specs that
// did not pass, skipped the number skipped because MESH had stopped
// answering.
func (o *observer) rootCause(bad, skipped int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	specs := fmt.Sprintf("%d spec%s failed for this one cause", bad, plural(bad))
	if skipped > 0 {
		specs = fmt.Sprintf("%d spec%s failed and %d were skipped for this one cause", bad, plural(bad), skipped)
	}
	switch {
	case o.requests < minRequestsForCause || bad+skipped == 0:
		return ""
	case o.fivexx == o.requests:
		return fmt.Sprintf("MESH answered %d %s to every one of the %d requests of the run (a server-side failure, not a conformance finding): %s",
			o.status, http.StatusText(o.status), o.requests, specs)
	case o.answered == 0 && o.dropped > 0:
		return fmt.Sprintf("the connection to MESH dropped: %d of the %d requests had their connection closed or reset mid-exchange and none was answered below 500 (last: %v): %s",
			o.dropped, o.requests, o.lastErr, specs)
	case o.answered == 0 && o.fivexx == 0:
		return fmt.Sprintf("MESH could not be reached for any of the %d requests (last: %v): %s", o.requests, o.lastErr, specs)
	case o.streak >= minRequestsForCause && o.streakDropped == o.streak:
		return fmt.Sprintf("the connection to MESH kept dropping during the run: the last %d requests had their connection closed or reset before MESH answered (last: %v): %s",
			o.streak, o.lastErr, specs)
	case o.streak >= minRequestsForCause:
		return fmt.Sprintf("MESH stopped answering during the run: the last %d requests got no answer (last: %v): %s",
			o.streak, o.lastErr, specs)
	}
	return ""
}
