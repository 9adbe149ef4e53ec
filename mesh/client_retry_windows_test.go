package mesh

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestRetryableWinsock: Winsock's codes for a reset, a refusal and an abort
// in the middle of a request are retried as their POSIX names are on Linux.
func TestRetryableWinsock(t *testing.T) {
	for _, tc := range []struct {
		op, call string
		errno    syscall.Errno
		want     bool
	}{
		{"read", "wsarecv", 10054, true},  // WSAECONNRESET
		{"write", "wsasend", 10053, true}, // WSAECONNABORTED
		{"read", "wsarecv", 10061, true},  // WSAECONNREFUSED
		{"read", "wsarecv", 10013, false}, // WSAEACCES: not a passing failure
	} {
		err := &net.OpError{Op: tc.op, Net: "tcp", Err: os.NewSyscallError(tc.call, tc.errno)}
		if got := retryable(err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", err, got, tc.want)
		}
	}
}
