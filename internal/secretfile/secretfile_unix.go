//go:build !windows

package secretfile

import "os"

func restrict(f *os.File) (string, error) {
	if err := f.Chmod(0o600); err != nil {
		return "", err
	}
	return "mode 0600: only you can read it", nil
}
