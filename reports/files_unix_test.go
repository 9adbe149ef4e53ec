//go:build unix

package reports

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeIntoFIFO: a report written to a FIFO goes into it, and the FIFO stays.
func writeIntoFIFO(t *testing.T) {
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
}
