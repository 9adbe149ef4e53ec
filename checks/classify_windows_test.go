package checks

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestClassifyWinsock: Winsock's codes read as their POSIX names do on Linux.
func TestClassifyWinsock(t *testing.T) {
	for errno, want := range map[syscall.Errno]netFailure{
		10061: failRefused,     // WSAECONNREFUSED
		10054: failReset,       // WSAECONNRESET
		10053: failReset,       // WSAECONNABORTED
		10065: failUnreachable, // WSAEHOSTUNREACH
		10051: failUnreachable, // WSAENETUNREACH
		10060: failTimeout,     // WSAETIMEDOUT
		10013: failOther,       // WSAEACCES
	} {
		err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connectex", errno)}
		if got := classifyNet(err); got != want {
			t.Errorf("classifyNet(%v) = %q, want %q", err, got, want)
		}
	}
}
