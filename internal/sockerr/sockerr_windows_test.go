package sockerr

import "syscall"

// The Winsock codes by number, as Microsoft documents them, so that a wrong
// constant in the mapping cannot hide behind the same wrong constant here.
var platformCases = []struct {
	err  error
	kind string
}{
	{wrap("dial", "connectex", syscall.Errno(10061)), "refused"},
	{wrap("dial", "connectex", syscall.Errno(1225)), "refused"},
	{wrap("read", "wsarecv", syscall.Errno(10054)), "reset"},
	{wrap("read", "wsarecv", syscall.Errno(10052)), "reset"},
	{wrap("read", "wsarecv", syscall.Errno(64)), "reset"},
	{wrap("write", "wsasend", syscall.Errno(10053)), "aborted"},
	{wrap("read", "wsarecv", syscall.Errno(1236)), "aborted"},
	{wrap("dial", "connectex", syscall.Errno(10065)), "unreachable"},
	{wrap("dial", "connectex", syscall.Errno(10051)), "unreachable"},
	{wrap("dial", "connectex", syscall.Errno(10049)), "unreachable"},
	{wrap("dial", "connectex", syscall.Errno(10050)), "unreachable"},
	{wrap("dial", "connectex", syscall.Errno(1231)), "unreachable"},
	{wrap("dial", "connectex", syscall.Errno(10060)), "timed out"},
	{syscall.Errno(10061), "refused"},
	// Go's invented POSIX names on Windows are not what sockets return.
	{wrap("dial", "connectex", syscall.ECONNREFUSED), ""},
	{wrap("dial", "connectex", syscall.Errno(10013)), ""}, // WSAEACCES
	{wrap("listen", "wsaioctl", syscall.Errno(10045)), "unsupported"},
	{wrap("listen", "bind", syscall.Errno(10048)), "in use"},
}
