package mesh

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenScheme is the Authorization scheme MESH uses.
const TokenScheme = "NHSMESH"

// TimestampLayout is the token timestamp: UTC, minute precision (yyyyMMddHHmm).
const TimestampLayout = "200601021504"

// TokenWindow is how far a token's timestamp may stray from the server's
// clock before MESH rejects it.
const TokenWindow = 2 * time.Hour

// Credentials are what a mailbox signs its requests with. The zero value
// signs nothing. Their String method never shows the secrets.
type Credentials struct {
	Mailbox   string
	Password  string
	SharedKey string
}

// String shows the mailbox only: credentials end up in logs by accident.
func (c Credentials) String() string { return "mailbox " + c.Mailbox + " (secrets redacted)" }

// GoString keeps %#v from printing the secrets too.
func (c Credentials) GoString() string {
	return "mesh.Credentials{Mailbox: " + strconv.Quote(c.Mailbox) + ", …}"
}

// NewNonce returns a random GUID-shaped nonce.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// internally instead of returning errors).
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Token is a parsed NHSMESH authorization header.
type Token struct {
	Mailbox    string
	Nonce      string
	NonceCount string
	// Timestamp is the header's timestamp as written.
	Timestamp string
	// Time is Timestamp read as UTC.
	Time time.Time
	// HMAC is the lowercase or uppercase hex digest as sent.
	HMAC string
}

// BuildToken makes the Authorization header value for one request. Each
// request needs a fresh nonce or nonce count: MESH accepts a header once.
func BuildToken(c Credentials, nonce string, nonceCount int, at time.Time) string {
	ts := at.UTC().Format(TimestampLayout)
	count := strconv.Itoa(nonceCount)
	mac := sign(c.SharedKey, c.Mailbox, nonce, count, c.Password, ts)
	return TokenScheme + " " + c.Mailbox + ":" + nonce + ":" + count + ":" + ts + ":" + mac
}

// NewToken builds a header with a fresh random nonce and a count of 0, the
// way NHS's JavaScript and .NET clients do.
func NewToken(c Credentials, at time.Time) string {
	return BuildToken(c, NewNonce(), 0, at)
}

func sign(sharedKey, mailbox, nonce, count, password, ts string) string {
	m := hmac.New(sha256.New, []byte(sharedKey))
	m.Write([]byte(mailbox + ":" + nonce + ":" + count + ":" + password + ":" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

// TokenFault names what is wrong with an authorization header.
type TokenFault string

// The ways a header can be wrong. Each has a stable name for reports.
const (
	FaultMissing      TokenFault = "missing"       // no Authorization header at all
	FaultScheme       TokenFault = "scheme"        // does not start with "NHSMESH "
	FaultParts        TokenFault = "parts"         // not five colon-separated parts
	FaultMailboxEmpty TokenFault = "mailbox-empty" // empty mailbox
	FaultMailboxCase  TokenFault = "mailbox-case"  // mailbox not upper case
	FaultMailboxSpace TokenFault = "mailbox-space" // white space in the mailbox
	FaultNonce        TokenFault = "nonce"         // empty nonce
	FaultNonceCount   TokenFault = "nonce-count"   // nonce count not all digits
	FaultTimestamp    TokenFault = "timestamp"     // not a yyyyMMddHHmm date
	FaultHMACShape    TokenFault = "hmac-shape"    // not 64 hex digits
	FaultHMAC         TokenFault = "hmac"          // digest does not match: wrong password or shared key
	FaultClock        TokenFault = "clock"         // timestamp outside the server's window
	FaultMailbox      TokenFault = "mailbox"       // token is for a different mailbox than the request
)

// TokenError is a header that cannot be used, and why.
type TokenError struct {
	Fault  TokenFault
	Detail string
}

func (e *TokenError) Error() string { return "NHSMESH token: " + e.Detail }

// ErrTokenInvalid matches every *TokenError with errors.Is.
var ErrTokenInvalid = errors.New("invalid NHSMESH token")

// Is lets errors.Is(err, ErrTokenInvalid) match any token fault.
func (e *TokenError) Is(target error) bool { return target == ErrTokenInvalid }

func tokenErr(f TokenFault, format string, args ...any) error {
	return &TokenError{Fault: f, Detail: fmt.Sprintf(format, args...)}
}

// ParseToken reads an Authorization header value and names the first
// structural fault it finds. It does not check the digest or the clock: see
// Token.Verify. The header value is never echoed in errors: it is a secret.
func ParseToken(header string) (Token, error) {
	if strings.TrimSpace(header) == "" {
		return Token{}, tokenErr(FaultMissing, "no Authorization header")
	}
	scheme, rest, found := strings.Cut(header, " ")
	if !found || scheme != TokenScheme {
		if strings.EqualFold(scheme, TokenScheme) && found {
			return Token{}, tokenErr(FaultScheme, "scheme must be %q in capitals, got %q", TokenScheme, scheme)
		}
		if strings.HasPrefix(strings.ToUpper(header), TokenScheme+":") {
			return Token{}, tokenErr(FaultScheme, "scheme %q must be followed by a space, not a colon", TokenScheme)
		}
		return Token{}, tokenErr(FaultScheme, "header must start with %q", TokenScheme+" ")
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 5 {
		return Token{}, tokenErr(FaultParts, "want 5 colon-separated parts (mailbox:nonce:nonce_count:timestamp:hmac), got %d", len(parts))
	}
	t := Token{Mailbox: parts[0], Nonce: parts[1], NonceCount: parts[2], Timestamp: parts[3], HMAC: parts[4]}
	switch {
	case t.Mailbox == "":
		return Token{}, tokenErr(FaultMailboxEmpty, "mailbox is empty")
	case strings.ContainsAny(t.Mailbox, " \t"):
		return Token{}, tokenErr(FaultMailboxSpace, "mailbox %q contains white space", t.Mailbox)
	case t.Mailbox != strings.ToUpper(t.Mailbox):
		return Token{}, tokenErr(FaultMailboxCase, "mailbox %q must be upper case (%s)", t.Mailbox, strings.ToUpper(t.Mailbox))
	case t.Nonce == "":
		return Token{}, tokenErr(FaultNonce, "nonce is empty")
	case !allDigits(t.NonceCount):
		return Token{}, tokenErr(FaultNonceCount, "nonce count %q must be digits only", t.NonceCount)
	}
	when, err := parseTimestamp(t.Timestamp)
	if err != nil {
		return Token{}, tokenErr(FaultTimestamp, "timestamp %q: %v", t.Timestamp, err)
	}
	t.Time = when
	if len(t.HMAC) != 64 || !isHex(t.HMAC) {
		return Token{}, tokenErr(FaultHMACShape, "hmac must be 64 hex digits (HMAC-SHA256), got %d characters", len(t.HMAC))
	}
	return t, nil
}

func parseTimestamp(s string) (time.Time, error) {
	if len(s) != len(TimestampLayout) || !allDigits(s) {
		return time.Time{}, fmt.Errorf("want 12 digits, UTC yyyyMMddHHmm")
	}
	t, err := time.Parse(TimestampLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a real date and time (want UTC yyyyMMddHHmm)")
	}
	return t, nil
}

// Verify checks the digest against the mailbox's password and the shared
// key, and the timestamp against now with the given window (0 skips the
// clock check). The HMAC is compared without regard to hex case, as MESH does.
func (t Token) Verify(password, sharedKey string, now time.Time, window time.Duration) error {
	return NewVerifier(sharedKey).Verify(&t, password, now, window)
}

// Verifier checks tokens signed with one shared key. It reuses its HMAC
// state between calls, so a server can check thousands of tokens a second
// without allocating; it is safe for concurrent use.
type Verifier struct {
	states sync.Pool // *verifyState
}

type verifyState struct {
	mac    hash.Hash
	msg    []byte
	sum    []byte
	digest [sha256.Size]byte
}

// NewVerifier returns a Verifier for tokens signed with sharedKey.
func NewVerifier(sharedKey string) *Verifier {
	key := []byte(sharedKey)
	v := &Verifier{}
	v.states.New = func() any {
		return &verifyState{mac: hmac.New(sha256.New, key), msg: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
	}
	return v
}

// Verify is Token.Verify with the Verifier's shared key.
func (v *Verifier) Verify(t *Token, password string, now time.Time, window time.Duration) error {
	s := v.states.Get().(*verifyState)
	ok := s.matches(t, password)
	v.states.Put(s)
	if !ok {
		return tokenErr(FaultHMAC, "hmac does not match: wrong mailbox password or shared key")
	}
	if window > 0 {
		skew := t.Time.Sub(now.UTC())
		if skew > window || skew < -window {
			return tokenErr(FaultClock, "timestamp %s is %s the server's clock %s (allowed ±%s)",
				t.Time.Format(time.RFC3339), describeSkew(skew), now.UTC().Format(time.RFC3339), window)
		}
	}
	return nil
}

// matches recomputes HMAC-SHA256(mailbox:nonce:nonce_count:password:timestamp)
// and compares it in constant time with the token's hex digest.
func (s *verifyState) matches(t *Token, password string) bool {
	if len(t.HMAC) != 2*len(s.digest) {
		return false
	}
	for i := range s.digest {
		hi, lo := unhex(t.HMAC[2*i]), unhex(t.HMAC[2*i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		s.digest[i] = hi<<4 | lo
	}
	m := append(s.msg[:0], t.Mailbox...)
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

// describeSkew says how far a token's time is from the server's, e.g. "3h0m0s ahead of".
func describeSkew(d time.Duration) string {
	if d < 0 {
		return (-d).Round(time.Minute).String() + " behind"
	}
	return d.Round(time.Minute).String() + " ahead of"
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// unhex is the value of a hex digit, or 255 for anything else.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
