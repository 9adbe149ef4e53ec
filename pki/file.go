package pki

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxFileSize is the most the loader reads of a keystore, key, certificate
// or CA bundle. Real ones are kilobytes; the cap keeps a wrong path (a disk
// image, /dev/zero, an endless pipe) from eating the memory.
const MaxFileSize = 16 << 20

// FileError is a file the loader refused before reading it as a keystore
// or certificate: a directory (Kind ErrIsDirectory) or one larger than
// MaxFileSize (Kind ErrTooLarge).
type FileError struct {
	Path string
	What string // "keystore", "key file", "CA bundle", ...
	// Size is the file's size in bytes, or -1 when it has none (a device,
	// a pipe) and only more than MaxFileSize could be read.
	Size int64
	Kind error
}

func (e *FileError) Error() string {
	switch {
	case e.Kind == ErrIsDirectory:
		return fmt.Sprintf("%s is a directory", e.Path)
	case e.Size >= 0:
		return fmt.Sprintf("%s is %d MB: not a %s", e.Path, (e.Size+500_000)/1_000_000, e.What)
	}
	return fmt.Sprintf("%s gave more than %d MB: not a %s", e.Path, MaxFileSize>>20, e.What)
}

// Unwrap lets errors.Is see the kind.
func (e *FileError) Unwrap() error { return e.Kind }

// Sentinels of FileError.
var (
	// ErrIsDirectory means a directory was given where a file belongs.
	ErrIsDirectory = errors.New("is a directory")
	// ErrTooLarge means a file holds more than MaxFileSize bytes.
	ErrTooLarge = errors.New("file too large")
)

// ReadFile reads a keystore, key, certificate or CA bundle file (what
// names it in errors), never more than MaxFileSize bytes. A directory or a
// larger file is a *FileError. Devices and pipes are read through the same
// cap; a FIFO is opened without waiting for a writer, so one with none
// reads as empty instead of hanging.
func ReadFile(path, what string) ([]byte, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &FileError{Path: path, What: what, Size: -1, Kind: ErrIsDirectory}
	}
	if fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, &FileError{Path: path, What: what, Size: fi.Size(), Kind: ErrTooLarge}
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		size := int64(-1)
		if fi.Mode().IsRegular() { // it grew while being read
			size = int64(len(data))
		}
		return nil, &FileError{Path: path, What: what, Size: size, Kind: ErrTooLarge}
	}
	return data, nil
}
