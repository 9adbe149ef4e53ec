//go:build !windows

package sockerr

import "syscall"

var (
	refused     = []syscall.Errno{syscall.ECONNREFUSED}
	reset       = []syscall.Errno{syscall.ECONNRESET, syscall.EPIPE}
	aborted     = []syscall.Errno{syscall.ECONNABORTED}
	unreachable = []syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EADDRNOTAVAIL, syscall.ENETDOWN, syscall.EHOSTDOWN}
	timedOut    = []syscall.Errno{syscall.ETIMEDOUT}
	unsupported = []syscall.Errno{syscall.EOPNOTSUPP}
	inUse       = []syscall.Errno{syscall.EADDRINUSE}
)
