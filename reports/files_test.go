package reports

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
		if err := os.Symlink("target.txt", link); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(link, writeString("report")); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, "target.txt")
		assertContent(t, target, "report")
	})
	t.Run("dangling link", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "link.xml")
		if err := os.Symlink(filepath.Join(dir, "sub-link"), link); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("new.xml", filepath.Join(dir, "sub-link")); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(link, writeString("report")); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, filepath.Join(dir, "sub-link"))
		assertContent(t, filepath.Join(dir, "new.xml"), "report")
	})
	t.Run("fifo", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "pipe")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("no FIFOs here: %v", err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(fifo)
			if err != nil {
				got <- err.Error()
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- string(b)
		}()
		if err := WriteFile(fifo, writeString("report")); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != "report" {
				t.Errorf("read %q from the FIFO, want %q", s, "report")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing read from the FIFO")
		}
		fi, err := os.Lstat(fifo)
		if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("%s is no longer a FIFO: %v %v", fifo, fi.Mode(), err)
		}
	})
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
