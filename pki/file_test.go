//go:build linux

package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileCap: the loader refuses directories and anything larger than
// MaxFileSize, reading no more than the cap, and never hangs on a FIFO.
func TestReadFileCap(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 2<<30); err != nil { // sparse: 2 GiB of nothing
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		kind       error
		want       string
	}{
		{"directory", dir, ErrIsDirectory, dir + " is a directory"},
		{"2 GiB file", big, ErrTooLarge, big + " is 2147 MB: not a keystore"},
		{"endless device", "/dev/zero", ErrTooLarge, "/dev/zero gave more than 16 MB: not a keystore"},
		{"FIFO without a writer", fifo, ErrUnknownFormat, "the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := LoadStore(tt.path, "", "pw"); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("LoadStore(%s) = %v, want %v saying %q", tt.path, err, tt.kind, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("LoadStore(%s) hangs", tt.path)
			}
		})
	}
	if _, err := LoadStore(writeTemp(t, dir, "cert.pem"), dir, ""); !errors.Is(err, ErrIsDirectory) {
		t.Errorf("a directory as the key file: %v", err)
	}
	if _, err := LoadPool(dir); !errors.Is(err, ErrIsDirectory) {
		t.Errorf("a directory as the CA bundle: %v", err)
	}
}

// TestReadFileReadsNoMoreThanTheCap feeds an endless pipe and counts what
// was taken from it.
func TestReadFileReadsNoMoreThanTheCap(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	written := make(chan int64, 1)
	go func() {
		var n int64
		buf := make([]byte, 64<<10)
		for {
			m, err := w.Write(buf)
			n += int64(m)
			if err != nil {
				written <- n
				return
			}
		}
	}()
	_, err = ReadFile(fmt.Sprintf("/proc/self/fd/%d", r.Fd()), "keystore")
	r.Close()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless pipe: %v", err)
	}
	// What the writer got rid of is what was read plus the pipe's buffer.
	if n := <-written; n > MaxFileSize+(2<<20) {
		t.Errorf("%d bytes were taken from the pipe, the cap is %d", n, MaxFileSize)
	}
}

func writeTemp(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
