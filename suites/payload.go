package suites

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// payloadReader generates the bytes of payload(seed, size) on the fly, so
// that a message of several chunks is never held whole in memory.
type payloadReader struct {
	seed    string
	left    int64 // bytes still to produce
	line    int   // number of the next line to generate
	pending []byte
}

func newPayloadReader(seed string, size int64) *payloadReader {
	return &payloadReader{seed: seed, left: size, line: 1}
}

func (r *payloadReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		if len(r.pending) == 0 {
			r.pending = fmt.Appendf(r.pending[:0], "meshdoctor conformance %s line %08d\n", r.seed, r.line)
			r.line++
		}
		c := copy(p[n:], r.pending)
		r.pending = r.pending[c:]
		n += c
	}
	r.left -= int64(n)
	return n, nil
}

// payload is size bytes of text lines naming the run and the purpose:
// text, so that gzip has something to do; deterministic, so that a
// download can be compared. For small bodies only: a chunked message
// uses payloadReader.
func payload(seed string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size)
	_, _ = io.Copy(&b, newPayloadReader(seed, int64(size)))
	return b.Bytes()
}

// payloadSHA256 is the hex SHA-256 of payload(seed, size), computed as a
// stream.
func payloadSHA256(seed string, size int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newPayloadReader(seed, size))
	return hex.EncodeToString(h.Sum(nil))
}

// matcher is an io.Writer that compares what is written with
// payload(seed, size) as it arrives, holding neither: a download of a
// multi-chunk message is checked without keeping it.
type matcher struct {
	want     *payloadReader
	size     int64
	n        int64 // bytes written so far
	mismatch int64 // offset of the first differing byte; -1 while equal
	sum      hashWriter
	buf      []byte
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newMatcher(seed string, size int64) *matcher {
	return &matcher{want: newPayloadReader(seed, size), size: size, mismatch: -1, sum: sha256.New()}
}

func (m *matcher) Write(p []byte) (int, error) {
	m.sum.Write(p)
	if m.mismatch < 0 {
		if cap(m.buf) < len(p) {
			m.buf = make([]byte, len(p))
		}
		want := m.buf[:len(p)]
		k, _ := io.ReadFull(m.want, want)
		for i := range k {
			if p[i] != want[i] {
				m.mismatch = m.n + int64(i)
				break
			}
		}
		if m.mismatch < 0 && k < len(p) {
			m.mismatch = m.n + int64(k) // longer than what was sent
		}
	}
	m.n += int64(len(p))
	return len(p), nil
}

// equal says whether exactly the expected bytes were written.
func (m *matcher) equal() bool { return m.mismatch < 0 && m.n == m.size }

// sha256Hex is the hex SHA-256 of what was written.
func (m *matcher) sha256Hex() string { return hex.EncodeToString(m.sum.Sum(nil)) }
