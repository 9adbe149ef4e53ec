//go:build windows

package sandbox

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockOffsetHigh places the locked byte far past the file's content (Windows
// allows locking beyond the end), so that the next sandbox can still read
// who holds the lock.
const lockOffsetHigh = 1 // 4 GiB

// tryLock takes an exclusive lock on one byte without waiting.
func tryLock(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

func unlock(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
