package sandbox

import (
	"testing"
	"time"
)

func TestNewMessageID(t *testing.T) {
	at := time.Date(2020, 5, 29, 15, 53, 57, 895317123, time.FixedZone("BST", 3600))
	id := newMessageID(at)
	if !idPattern.MatchString(id) || id[:21] != "20200529145357895317_" {
		t.Fatalf("id %q", id)
	}
	st, err := openStore("", DefaultMailboxes(), nil, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ { // all in the same microsecond: the store keeps them unique
		st.mu.Lock()
		id := st.newIDLocked(at)
		st.msgs[id] = &message{}
		st.mu.Unlock()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}
