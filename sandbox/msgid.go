package sandbox

import (
	"math/rand/v2"
	"time"
)

// messageIDLen is the length of a real-style MESH message id:
// yyyyMMddHHmmss + 6 fraction digits + "_" + 6 upper-case hex digits.
const messageIDLen = 27

// newMessageID makes a real-style MESH message id (mesh-api.md §3.11), e.g.
// 20200529155357895317_3573F8, from t in UTC. The random suffix makes ids
// made in the same microsecond differ; the store still checks uniqueness.
func newMessageID(t time.Time) string {
	t = t.UTC()
	var b [messageIDLen]byte
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	putDigits(b[0:4], year)
	putDigits(b[4:6], int(month))
	putDigits(b[6:8], day)
	putDigits(b[8:10], hour)
	putDigits(b[10:12], minute)
	putDigits(b[12:14], sec)
	putDigits(b[14:20], t.Nanosecond()/1000)
	b[20] = '_'
	r := rand.Uint32()
	const hexDigits = "0123456789ABCDEF"
	for i := 26; i >= 21; i-- {
		b[i] = hexDigits[r&0xF]
		r >>= 4
	}
	return string(b[:])
}

// putDigits writes v as len(dst) decimal digits, zero padded (and truncated
// to the low digits when v is too large).
func putDigits(dst []byte, v int) {
	if v < 0 {
		v = 0
	}
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}
