package sandbox

import (
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Authentication failures (mesh-api.md §2.2.1). They carry no event or code:
// that is how clients tell them from business errors. Only an unknown
// mailbox has one (SEND, EPL-151).
var (
	errAuthHeader = apiError{status: http.StatusForbidden, desc: "Error reading from Authorization header"}
	errAuthBox    = apiError{status: http.StatusForbidden, desc: "Mailbox id does not match token"}
	errAuthToken  = apiError{status: http.StatusForbidden, desc: "Invalid Authentication Token"}
	errAuthNoBox  = apiError{status: http.StatusForbidden, event: "SEND", code: "EPL-151", desc: "No mailbox matched"}
)

// Remembered tokens: long enough that a token cannot be replayed while its
// timestamp is still inside the window, and bounded in number.
const (
	replayMargin      = 10 * time.Minute
	replayKeepNoClock = 4 * time.Hour
	replayMaxEntries  = 1 << 20
)

// authenticator checks NHSMESH tokens: structure, mailbox, HMAC, clock
// window and single use, with one HMAC and one map insert per request.
type authenticator struct {
	opts     apiOptions
	st       *store
	verifier *mesh.Verifier
	seeds    [2]maphash.Seed
	states   sync.Pool // *authState
	replay   replayCache
}

// authState is per-request scratch space for the replay key, pooled so
// that checking a token allocates nothing beyond what parsing it does.
type authState struct {
	keyA maphash.Hash
	keyB maphash.Hash
}

func newAuthenticator(opts apiOptions, st *store) *authenticator {
	a := &authenticator{opts: opts, st: st, verifier: mesh.NewVerifier(opts.SharedKey), seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	a.states.New = func() any {
		s := &authState{}
		s.keyA.SetSeed(a.seeds[0])
		s.keyB.SetSeed(a.seeds[1])
		return s
	}
	keep := replayKeepNoClock
	if opts.TokenWindow > 0 {
		keep = 2*opts.TokenWindow + replayMargin
	}
	a.replay = replayCache{seen: map[[2]uint64]struct{}{}, keep: int64(keep), limit: replayMaxEntries}
	return a
}

// check authenticates a request for the (upper-case) path mailbox.
func (a *authenticator) check(r *http.Request, pathMailbox string) (*Mailbox, *apiError) {
	if a.opts.RejectAllTokens {
		return nil, &errAuthToken
	}
	value, _ := header(r, hAuthorization)
	if strings.TrimSpace(value) == "" {
		return nil, &errAuthHeader
	}
	tok, err := mesh.ParseToken(value)
	if err != nil {
		return nil, &errAuthHeader
	}
	if tok.Mailbox != pathMailbox {
		return nil, &errAuthBox
	}
	mb := a.st.mailbox(pathMailbox)
	if mb == nil {
		return nil, &errAuthNoBox
	}
	// A wrong digest and a stale timestamp look the same to the client, as
	// on the real service: "Invalid Authentication Token".
	now := a.opts.Now()
	if a.verifier.Verify(&tok, mb.Password, now, a.opts.TokenWindow) != nil {
		return nil, &errAuthToken
	}
	s := a.states.Get().(*authState)
	defer a.states.Put(s)
	if a.opts.SingleUseTokens && !a.replay.add(s.replayKey(&tok), now.UnixNano()) {
		return nil, &errAuthToken
	}
	return mb, nil
}

// replayKey is a 128-bit hash of (mailbox, nonce, nonce_count).
func (s *authState) replayKey(t *mesh.Token) [2]uint64 {
	var k [2]uint64
	for i, h := range [2]*maphash.Hash{&s.keyA, &s.keyB} {
		h.Reset()
		_, _ = h.WriteString(t.Mailbox)
		_ = h.WriteByte(0)
		_, _ = h.WriteString(t.Nonce)
		_ = h.WriteByte(0)
		_, _ = h.WriteString(t.NonceCount)
		k[i] = h.Sum64()
	}
	return k
}

// replayCache remembers the tokens that authenticated, oldest first, and
// forgets them after keep (or beyond limit entries).
type replayCache struct {
	mu    sync.Mutex
	seen  map[[2]uint64]struct{}
	queue []replayEntry
	head  int
	keep  int64 // nanoseconds
	limit int
}

type replayEntry struct {
	key [2]uint64
	at  int64
}

// add remembers key and reports whether it was new.
func (c *replayCache) add(key [2]uint64, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff := now - c.keep
	for c.head < len(c.queue) && (c.queue[c.head].at < cutoff || len(c.queue)-c.head >= c.limit) {
		delete(c.seen, c.queue[c.head].key)
		c.queue[c.head] = replayEntry{}
		c.head++
	}
	if c.head > 4096 && c.head*2 > len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
	if _, dup := c.seen[key]; dup {
		return false
	}
	c.seen[key] = struct{}{}
	c.queue = append(c.queue, replayEntry{key: key, at: now})
	return true
}

func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
