package sockerr

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// Winsock's codes, as Go's net package returns them on Windows ("connectex:
// No connection could be made because the target machine actively refused
// it" is WSAECONNREFUSED, 10061). Go's syscall.ECONNREFUSED and friends are
// invented values there that no socket call returns. The ERROR_ codes are
// what overlapped I/O reports for the same events.
var (
	refused     = []syscall.Errno{windows.WSAECONNREFUSED, windows.ERROR_CONNECTION_REFUSED}
	reset       = []syscall.Errno{windows.WSAECONNRESET, windows.WSAENETRESET, windows.ERROR_NETNAME_DELETED}
	aborted     = []syscall.Errno{windows.WSAECONNABORTED, windows.ERROR_CONNECTION_ABORTED}
	unreachable = []syscall.Errno{windows.WSAEHOSTUNREACH, windows.WSAENETUNREACH, windows.WSAEADDRNOTAVAIL,
		windows.WSAENETDOWN, windows.WSAEHOSTDOWN, windows.ERROR_NETWORK_UNREACHABLE, windows.ERROR_HOST_UNREACHABLE}
	timedOut    = []syscall.Errno{windows.WSAETIMEDOUT}
	unsupported = []syscall.Errno{windows.WSAEOPNOTSUPP}
	inUse       = []syscall.Errno{windows.WSAEADDRINUSE}
)
