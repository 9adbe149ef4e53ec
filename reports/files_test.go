package reports

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// TestWriteFileKeepsWhatIsAtThePath: a report is written through a symbolic
// link or into a FIFO, never by replacing them with a regular file.
func TestWriteFileKeepsWhatIsAtThePath(t *testing.T) {
	t.Run("link to an existing file", func(t *testing.T) {
		dir := t.TempDir()
		target, link := filepath.Join(dir, "target.txt"), filepath.Join(dir, "link.xml")
		if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		symlink(t, "target.txt", link)
		if err := WriteFile(link, writeString("report")); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, "target.txt")
		assertContent(t, target, "report")
	})
	t.Run("dangling link", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "link.xml")
		symlink(t, filepath.Join(dir, "sub-link"), link)
		symlink(t, "new.xml", filepath.Join(dir, "sub-link"))
		if err := WriteFile(link, writeString("report")); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, filepath.Join(dir, "sub-link"))
		assertContent(t, filepath.Join(dir, "new.xml"), "report")
	})
	t.Run("fifo", writeIntoFIFO)
	t.Run("open file descriptor, as /dev/stdout is", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "stdout.txt")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fdPath := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
		if _, err := os.Stat(fdPath); err != nil {
			t.Skipf("no /proc: %v", err)
		}
		before, _ := os.Stat(out)
		if _, err := f.WriteString("text report\n"); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(fdPath, writeString("<junit/>")); err != nil {
			t.Fatal(err)
		}
		assertContent(t, out, "text report\n<junit/>")
		after, _ := os.Stat(out)
		if !os.SameFile(before, after) {
			t.Errorf("%s was replaced, not written", out)
		}
	})
	t.Run("directory", func(t *testing.T) {
		err := WriteFile(t.TempDir(), writeString("report"))
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("err = %v, want one saying it is a directory", err)
		}
	})
	t.Run("regular file is replaced whole", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junit.xml")
		if err := os.WriteFile(path, []byte("a much longer old report"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, writeString("new")); err != nil {
			t.Fatal(err)
		}
		assertContent(t, path, "new")
	})
}

// symlink makes a symbolic link for a test, which is skipped where this
// platform or user cannot make one that reads back (Windows without the
// privilege or developer mode; Wine).
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot make symbolic links here: %v", err)
	}
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Skipf("symbolic links do not read back here: %q, %v", got, err)
	}
}

func assertLink(t *testing.T, link, want string) {
	t.Helper()
	got, err := os.Readlink(link)
	if err != nil || got != want {
		t.Errorf("%s: link to %q (%v), want the link to %q kept", link, got, err, want)
	}
}

func assertContent(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Errorf("%s holds %q (%v), want %q", path, b, err, want)
	}
}
