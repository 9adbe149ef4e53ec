// Package secretfile writes files that hold secrets (private keys, keystores)
// so that only the user who runs meshdoctor can read them: mode 0600 on Unix,
// a protected ACL granting only the current user on Windows, where file modes
// do nothing. The file is replaced whole, through a temporary file restricted
// before anything is written to it, so it is never readable by others, not
// even for a moment, and a reader never sees half of it. Text reads back the
// secrets users write into files themselves, in whatever encoding their
// platform's tools chose.
package secretfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path as a secret file and returns how it is
// protected, in words for the user ("mode 0600 ..."). Where this file system
// cannot restrict access (FAT on Windows) the file is still written and the
// words say so, so that the user can move it; any other failure is an error.
func Write(path string, data []byte) (protection string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	protection, err = restrict(tmp)
	if err != nil {
		tmp.Close()
		return "", fmt.Errorf("restrict %s to its owner: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return protection, os.Rename(tmp.Name(), path)
}
