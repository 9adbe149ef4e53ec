//go:build !windows

package sockerr

import "syscall"

var platformCases = []struct {
	err  error
	kind string
}{
	{wrap("dial", "connect", syscall.ECONNREFUSED), "refused"},
	{wrap("read", "read", syscall.ECONNRESET), "reset"},
	{wrap("write", "write", syscall.EPIPE), "reset"},
	{wrap("read", "read", syscall.ECONNABORTED), "aborted"},
	{wrap("dial", "connect", syscall.EHOSTUNREACH), "unreachable"},
	{wrap("dial", "connect", syscall.ENETUNREACH), "unreachable"},
	{wrap("dial", "connect", syscall.EADDRNOTAVAIL), "unreachable"},
	{wrap("dial", "connect", syscall.ETIMEDOUT), "timed out"},
	{syscall.ECONNREFUSED, "refused"},
	{wrap("dial", "connect", syscall.EACCES), ""},
	{wrap("listen", "setsockopt", syscall.EOPNOTSUPP), "unsupported"},
	{wrap("listen", "bind", syscall.EADDRINUSE), "in use"},
}
