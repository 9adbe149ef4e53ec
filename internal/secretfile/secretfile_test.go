package secretfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: the data arrives whole, replaces an older file, leaves no
// temporary file behind, and the file is restricted to its owner (checked by
// each platform's restrictedToOwner).
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "client.key")
	if err := os.WriteFile(path, []byte("old, readable by all"), 0o644); err != nil {
		t.Fatal(err)
	}
	protection, err := Write(path, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if protection == "" {
		t.Error("no words for how the file is protected")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "secret" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	restrictedToOwner(t, path, protection)
}

func TestWriteMissingDirectory(t *testing.T) {
	if _, err := Write(filepath.Join(t.TempDir(), "nowhere", "k.pem"), []byte("x")); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}
