// Package sockerr names the socket failures meshdoctor diagnoses and retries
// (refused, reset, aborted, unreachable, timed out) the same way on every
// platform. Go reports them as the operating system's own codes: POSIX errnos
// on Unix, WSAE codes on Windows, which syscall.ECONNREFUSED and friends never
// match there. Each platform's file lists its codes; callers ask the predicates.
package sockerr

import (
	"errors"
	"syscall"
)

// Refused: nothing listens on the port, or a firewall answered for it.
func Refused(err error) bool { return isAny(err, refused) }

// Reset: the peer (or something on the path) reset the connection.
func Reset(err error) bool { return isAny(err, reset) }

// Aborted: this machine's network stack gave up on an established
// connection (on Windows often a local firewall or antivirus).
func Aborted(err error) bool { return isAny(err, aborted) }

// Unreachable: no route to the host or its network, or the network is down.
func Unreachable(err error) bool { return isAny(err, unreachable) }

// TimedOut: the operating system gave up waiting (a connect that was never
// answered), as distinct from a deadline meshdoctor set.
func TimedOut(err error) bool { return isAny(err, timedOut) }

// Unsupported: the socket option or operation is not supported here (Wine
// 8.0 answers Go's SIO_UDP_CONNRESET so, and every UDP socket fails).
func Unsupported(err error) bool { return isAny(err, unsupported) }

// InUse: the address a listener asked for is taken (another program, or
// another copy of this one, listens there).
func InUse(err error) bool { return isAny(err, inUse) }

func isAny(err error, codes []syscall.Errno) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	for _, c := range codes {
		if errno == c {
			return true
		}
	}
	return false
}
