package reports

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// WriteFile writes one report to path: into a temporary file beside it,
// renamed into place once complete, so a CI step never reads half a report.
func WriteFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
