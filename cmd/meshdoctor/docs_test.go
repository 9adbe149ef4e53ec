package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages and the markdown command reference are generated from the
// commands themselves and committed, so that they can be read on GitHub and
// packaged without building anything; this test fails when they are stale.
//
//	make docs   (go test ./cmd/meshdoctor -run TestDocs -update-docs)
var updateDocs = flag.Bool("update-docs", false, "rewrite docs/man and docs/cli from the commands")

const (
	manDir = "../../docs/man"
	cliDir = "../../docs/cli"
)

func TestDocsUpToDate(t *testing.T) {
	if runtime.GOOS != "linux" {
		// Some defaults and wording follow the platform (shell quoting,
		// folders); the committed pages are those of the Linux packages.
		t.Skip("the committed docs are generated on Linux; this is " + runtime.GOOS)
	}
	date, err := releaseDate("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	gen := t.TempDir()
	man, cli := filepath.Join(gen, "man"), filepath.Join(gen, "cli")
	if err := generateDocs(man, cli, date); err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		for _, d := range [][2]string{{man, manDir}, {cli, cliDir}} {
			if err := os.RemoveAll(d[1]); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(d[1], os.DirFS(d[0])); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, d := range [][2]string{{man, manDir}, {cli, cliDir}} {
		if diff := compareDirs(d[0], d[1]); diff != "" {
			t.Errorf("%s is stale: %s; run make docs and commit the result", filepath.Clean(d[1][len("../../"):]), diff)
		}
	}
}

// generateDocs writes one man page and one markdown page per command.
func generateDocs(manDir, cliDir string, date time.Time) error {
	// A fresh tree with no environment: help text must not depend on the
	// machine that generated it.
	root := (&app{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(string) string { return "" }}).rootCommand()
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true // no generation date in the text
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	for _, d := range []string{manDir, cliDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	header := &doc.GenManHeader{Title: "MESHDOCTOR", Section: "1", Source: "meshdoctor", Manual: "meshdoctor manual", Date: &date}
	if err := doc.GenManTree(root, header, manDir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if err := doc.GenMarkdownTree(root, cliDir); err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	return nil
}

// releaseDate is the date of the newest release in the changelog, the
// manual's date: it changes with a release, not with every build.
func releaseDate(changelog string) (time.Time, error) {
	b, err := os.ReadFile(changelog)
	if err != nil {
		return time.Time{}, err
	}
	m := regexp.MustCompile(`(?m)^## \[v?\d+\.\d+\.\d+[^\]]*\] - (\d{4}-\d{2}-\d{2})`).FindSubmatch(b)
	if m == nil {
		return time.Time{}, fmt.Errorf("%s: no release heading like \"## [0.1.0] - 2026-12-05\"", changelog)
	}
	return time.Parse(time.DateOnly, string(m[1]))
}

// compareDirs names the first difference between two folders of files, or
// returns "".
func compareDirs(want, got string) string {
	list := func(dir string) map[string]bool {
		names := map[string]bool{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			names[e.Name()] = true
		}
		return names
	}
	w, g := list(want), list(got)
	var names []string
	for n := range w {
		names = append(names, n)
	}
	for n := range g {
		if !w[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var diffs []string
	for _, n := range names {
		switch {
		case !g[n]:
			diffs = append(diffs, n+" missing")
		case !w[n]:
			diffs = append(diffs, n+" is for no command")
		default:
			a, _ := os.ReadFile(filepath.Join(want, n))
			b, _ := os.ReadFile(filepath.Join(got, n))
			if !bytes.Equal(a, b) {
				diffs = append(diffs, n+" differs")
			}
		}
	}
	return strings.Join(diffs, ", ")
}
