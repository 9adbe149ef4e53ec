package reports

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The files WriteDir writes.
const (
	FileText  = "report.txt"
	FileJSON  = "report.json"
	FileJUnit = "junit.xml"
	FileHTML  = "report.html"
)

// WriteDir writes every report of the run into dir (made if missing):
// report.txt (verbose, no colour), report.json, junit.xml and report.html.
func WriteDir(dir string, r *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make report directory: %w", err)
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{FileText, func(w io.Writer) error { return WriteText(w, r, TextOptions{Verbose: true}) }},
		{FileJSON, func(w io.Writer) error { return WriteJSON(w, r) }},
		{FileJUnit, func(w io.Writer) error { return WriteJUnit(w, r) }},
		{FileHTML, func(w io.Writer) error { return WriteHTML(w, r) }},
	} {
		if err := WriteFile(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes one report to path. A regular file (new or existing) is
// written into a temporary file beside it and renamed into place once
// complete, so a CI step never reads half a report. A symbolic link is
// followed and its target written, so the link stays. Anything else that is
// not a regular file (a device such as /dev/stdout or /dev/null, a FIFO, a
// /proc/self/fd entry) is written directly, never renamed over: replacing a
// device node or a pipe with a file would break the system or the pipeline.
func WriteFile(path string, write func(io.Writer) error) error {
	target, direct, err := resolveReportPath(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if direct {
		return writeDirect(path, target, write)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// maxLinks bounds the symbolic links followed, as the kernel does (ELOOP).
const maxLinks = 40

// resolveReportPath follows the symbolic links from path to the file a
// report should be written to. direct is true when that file exists and is
// not a regular file, or is reached through /proc (whose fd links, behind
// /dev/stdout, name pipes and terminals that only the kernel can follow):
// then target is to be opened and written in place. A dangling link resolves
// to the missing file it names, which is created.
func resolveReportPath(path string) (target string, direct bool, err error) {
	p := filepath.Clean(path)
	for range maxLinks {
		if inProc(p) {
			return p, true, directTarget(p)
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, false, nil
		}
		if err != nil {
			return "", false, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			dest, err := os.Readlink(p)
			if err != nil {
				return "", false, err
			}
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(filepath.Dir(p), dest)
			}
			p = filepath.Clean(dest)
		case fi.IsDir():
			return "", false, errors.New("is a directory")
		case fi.Mode().IsRegular():
			return p, false, nil
		default:
			return p, true, nil
		}
	}
	return "", false, errors.New("too many levels of symbolic links")
}

// inProc reports whether p is under /proc, where links are not paths.
func inProc(p string) bool {
	return p == "/proc" || strings.HasPrefix(p, "/proc/")
}

// directTarget checks a /proc path before it is opened: it must exist (a
// file cannot be made there) and not be a directory.
func directTarget(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist, and no file can be made under /proc", p)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	return nil
}

// writeDirect writes the report into target as it is: no temporary file, no
// rename, no truncation (O_APPEND: a regular file behind /dev/stdout keeps
// what was printed before the report).
func writeDirect(path, target string, write func(io.Writer) error) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	return nil
}

// bare is err without the operation and path of an *fs.PathError, which
// the caller's message already names ("write /dev/full: no space left on
// device", not "write /dev/full: write /dev/full: ...").
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CheckFile reports whether WriteFile could write path, so that a command
// can refuse a bad path before its run rather than after it: the path is
// not a directory and the directory it would be made in exists and takes
// new files. A device, FIFO or /dev/stdout is accepted as it is.
func CheckFile(path string) error {
	if path != "" && os.IsPathSeparator(path[len(path)-1]) { // both / and \ on Windows
		return errors.New("ends in a separator, so names a directory: give a file name")
	}
	target, direct, err := resolveReportPath(path)
	if err != nil {
		return err
	}
	if direct {
		return nil
	}
	return probeDir(filepath.Dir(target))
}

// CheckDir reports whether WriteDir could write into dir: an existing
// directory that takes new files, or a missing one whose nearest existing
// ancestor is such a directory (WriteDir makes the rest).
func CheckDir(dir string) error {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s is not a directory", p)
		case err == nil:
			return probeDir(p)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
}

// probeDir checks that dir is a directory where a file can be made, by
// making (and removing) one: permission bits do not tell (root, read-only
// and special file systems such as /proc).
func probeDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".meshdoctor-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, bare(err))
	}
	f.Close()
	return os.Remove(f.Name())
}
