package suites

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// wholePayload is the payload as it was built before it was streamed: the
// reader must produce exactly these bytes.
func wholePayload(seed string, size int) []byte {
	var b bytes.Buffer
	for n := 1; b.Len() < size; n++ {
		fmt.Fprintf(&b, "meshdoctor conformance %s line %08d\n", seed, n)
	}
	return b.Bytes()[:size]
}

func TestPayloadReader(t *testing.T) {
	for _, size := range []int{0, 1, 47, 48, 49, 4096, 100_003} {
		want := wholePayload("seed", size)
		got, err := io.ReadAll(iotest.OneByteReader(newPayloadReader("seed", int64(size))))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: one byte at a time: %d bytes, err %v; not the payload", size, len(got), err)
		}
		if err := iotest.TestReader(newPayloadReader("seed", int64(size)), want); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got := payloadSHA256("seed", int64(size)); got != sha256Hex(want) {
			t.Fatalf("size %d: payloadSHA256 %s, want %s", size, got, sha256Hex(want))
		}
	}
}

func TestMatcher(t *testing.T) {
	want := wholePayload("seed", 10_000)
	flip := bytes.Clone(want)
	flip[7000] ^= 1
	tests := []struct {
		name     string
		got      []byte
		equal    bool
		mismatch int64
	}{
		{"equal", want, true, -1},
		{"one byte differs", flip, false, 7000},
		{"short", want[:9999], false, -1},
		{"long", append(bytes.Clone(want), 'x'), false, 10_000},
		{"empty", nil, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMatcher("seed", 10_000)
			// In uneven writes, as a download's chunks arrive.
			for rest := tt.got; len(rest) > 0; {
				n := min(len(rest), 3333)
				if _, err := m.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if m.equal() != tt.equal || m.mismatch != tt.mismatch {
				t.Fatalf("equal %v mismatch %d, want %v %d", m.equal(), m.mismatch, tt.equal, tt.mismatch)
			}
			if m.n != int64(len(tt.got)) || m.sha256Hex() != sha256Hex(tt.got) {
				t.Fatalf("n %d sha %s, want %d %s", m.n, m.sha256Hex(), len(tt.got), sha256Hex(tt.got))
			}
		})
	}
}
