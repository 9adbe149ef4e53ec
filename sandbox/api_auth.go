package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
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
	opts   apiOptions
	st     *store
	seeds  [2]maphash.Seed
	states sync.Pool // *authState
	replay replayCache
}

// authState is per-request scratch space, pooled so that checking a token
// allocates nothing beyond what parsing it does.
type authState struct {
	mac    hash.Hash
	msg    []byte
	sum    []byte
	keyA   maphash.Hash
	keyB   maphash.Hash
	digest [sha256.Size]byte
}

func newAuthenticator(opts apiOptions, st *store) *authenticator {
	a := &authenticator{opts: opts, st: st, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	key := []byte(opts.SharedKey)
	a.states.New = func() any {
		s := &authState{mac: hmac.New(sha256.New, key), msg: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
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
	s := a.states.Get().(*authState)
	defer a.states.Put(s)
	if !s.verifyHMAC(&tok, mb.Password) {
		return nil, &errAuthToken
	}
	now := a.opts.Now()
	if w := a.opts.TokenWindow; w > 0 {
		skew := tok.Time.Sub(now)
		if skew > w || skew < -w {
			return nil, &errAuthToken
		}
	}
	if a.opts.SingleUseTokens && !a.replay.add(s.replayKey(&tok), now.UnixNano()) {
		return nil, &errAuthToken
	}
	return mb, nil
}

// verifyHMAC recomputes the token's HMAC-SHA256 (key: the shared key;
// message: mailbox:nonce:nonce_count:password:timestamp) and compares it,
// in constant time and without regard to hex case, with the token's.
func (s *authState) verifyHMAC(t *mesh.Token, password string) bool {
	if !decodeHex(s.digest[:], t.HMAC) {
		return false
	}
	m := s.msg[:0]
	m = append(m, t.Mailbox...)
	m = append(m, ':')
	m = append(m, t.Nonce...)
	m = append(m, ':')
	m = append(m, t.NonceCount...)
	m = append(m, ':')
	m = append(m, password...)
	m = append(m, ':')
	m = append(m, t.Timestamp...)
	s.msg = m[:0]
	s.mac.Reset()
	s.mac.Write(m)
	s.sum = s.mac.Sum(s.sum[:0])
	return hmac.Equal(s.sum, s.digest[:])
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

func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
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
