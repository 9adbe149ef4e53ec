package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// lockName is the lock file a running sandbox holds in its --pki-dir and
// --data-dir: two sandboxes writing one profile.json would send a
// --profile run to the other one, and two writing one data directory would
// lose messages.
const lockName = ".meshdoctor-sandbox.lock"

// ErrDirInUse is returned by Start when another running sandbox holds the
// --pki-dir or --data-dir.
var ErrDirInUse = errors.New("in use by another running sandbox")

// dirLock is a held lock on a directory. The operating system releases it
// when the process ends, however it ends, so a sandbox that crashed or was
// killed never blocks the next one: its lock file stays, its lock does not.
type dirLock struct {
	f *os.File
}

// lockDir takes the lock of dir (created when missing) for this process,
// or says which process holds it.
func lockDir(dir, what string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, dir, err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s %s: lock: %w", what, dir, err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("%s %s is %w (%s): stop it, or give this one another directory", what, dir, ErrDirInUse, who)
	}
	// Who holds it, for the message above; best effort.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("process %d", os.Getpid())), 0)
	return &dirLock{f: f}, nil
}

// note adds what the holder serves, for the next one's message.
func (l *dirLock) note(url string) {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("process %d, %s", os.Getpid(), url)), 0)
}

func (l *dirLock) release() {
	if l == nil {
		return
	}
	_ = unlock(l.f)
	l.f.Close()
}
