package console

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestNotATerminal: files, pipes, the null device and non-files are not
// terminals and get no escape sequences.
func TestNotATerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, out := range map[string]any{"file": file, "pipe": w, "null device": null, "buffer": &bytes.Buffer{}, "nil": nil} {
		if IsTerminal(out) || ANSI(out) {
			t.Errorf("%s: taken for a terminal", name)
		}
	}
}
