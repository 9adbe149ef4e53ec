//go:build !windows

package secretfile

import (
	"os"
	"strings"
	"testing"
)

func restrictedToOwner(t *testing.T, path, protection string) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(protection, "0600") {
		t.Errorf("protection %q does not say 0600", protection)
	}
}
