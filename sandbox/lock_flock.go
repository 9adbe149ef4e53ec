//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sandbox

import (
	"os"
	"syscall"
)

// tryLock takes an exclusive flock without waiting. flock locks belong to
// the open file, so a second Start in the same process is refused too.
func tryLock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }

func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
