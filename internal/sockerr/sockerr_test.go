package sockerr

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

var predicates = map[string]func(error) bool{
	"refused":     Refused,
	"reset":       Reset,
	"aborted":     Aborted,
	"unreachable": Unreachable,
	"timed out":   TimedOut,
	"unsupported": Unsupported,
	"in use":      InUse,
}

// wrap dresses an errno the way the net package hands it back from a dial.
func wrap(op, call string, errno syscall.Errno) error {
	return fmt.Errorf("connecting: %w", &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(call, errno)})
}

// TestSynthetic: each of this platform's codes (platformCases, in the
// platform's test file) is named by its predicate and by no other.
func TestSynthetic(t *testing.T) {
	cases := append(platformCases, []struct {
		err  error
		kind string
	}{
		{nil, ""},
		{errors.New("connection refused"), ""}, // text alone proves nothing
		{os.ErrDeadlineExceeded, ""},
	}...)
	for _, tc := range cases {
		for name, pred := range predicates {
			if got, want := pred(tc.err), name == tc.kind; got != want {
				t.Errorf("%s(%v) = %v, want %v", name, tc.err, got, want)
			}
		}
	}
}

// TestRealRefused: a dial to a closed loopback port is named refused by this
// platform's own network stack (Winsock under Windows or Wine).
func TestRealRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		t.Skipf("something listens on %s again", addr)
	}
	if !Refused(err) {
		t.Fatalf("Refused(%v) = false (%T)", err, errors.Unwrap(errors.Unwrap(err)))
	}
}

// TestRealReset: a peer that closes with SO_LINGER 0 resets the connection,
// and the reader's error is named reset.
func TestRealReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Wait for the client's byte, so that the reset comes to its read
		// and not to its dial.
		if _, err := c.Read(make([]byte, 1)); err == nil {
			c.(*net.TCPConn).SetLinger(0)
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if err == nil || !(Reset(err) || Aborted(err)) {
		t.Fatalf("read after the peer's reset: %v, named neither reset nor aborted", err)
	}
}
