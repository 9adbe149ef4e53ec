package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCSRNewNeverDestroysFiles: the CSR never replaces a key or any other
// existing file, and a bad --out is refused before a key is made.
func TestCSRNewNeverDestroysFiles(t *testing.T) {
	const fqdn = "X26ABC1.X26.api.mesh-client.nhs.uk"
	dir := t.TempDir()
	precious := filepath.Join(dir, "existing-key.pem")
	if err := os.WriteFile(precious, []byte("PRECIOUS KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Symbolic links need a privilege on Windows, and Wine 8.0's os.Symlink
	// succeeds without making one: each case says what it needs, and skips
	// where that cannot be had.
	symlinks := map[string]string{"link.pem": precious, "dirlink": dir, "dangling.pem": "k11.pem"}
	missing := map[string]string{}
	for link, target := range symlinks {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			missing["symlink"] = err.Error()
		} else if _, err := os.Lstat(filepath.Join(dir, link)); err != nil {
			missing["symlink"] = "os.Symlink made no link: " + err.Error()
		} else if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != target {
			missing["readlink"] = fmt.Sprintf("%s reads back as %q, %v", link, got, err)
		}
	}
	if err := os.Link(precious, filepath.Join(dir, "hard.pem")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, keyOut, out string
		force             bool
		want              string
		keyLeft           bool   // whether --key-out may exist afterwards
		needs             string // "symlink": symbolic links; "readlink": ones that read back
	}{
		{name: "existing --out", keyOut: "new.pem", out: "existing-key.pem", want: "--out " + filepath.Join(dir, "existing-key.pem") + " exists"},
		{name: "same file", keyOut: "k5.pem", out: "k5.pem", want: "name the same file"},
		{name: "same file spelt differently", keyOut: "k6.pem", out: "./sub/../k6.pem", want: "name the same file"},
		{name: "same file with --force", keyOut: "existing-key.pem", out: "existing-key.pem", force: true, want: "name the same file", keyLeft: true},
		{name: "same file through a link", keyOut: "existing-key.pem", out: "link.pem", force: true, want: "name the same file", keyLeft: true, needs: "symlink"},
		{name: "same file through a hard link", keyOut: "existing-key.pem", out: "hard.pem", force: true, want: "name the same file", keyLeft: true},
		{name: "same new file through a directory link", keyOut: "k10.pem", out: "dirlink/k10.pem", want: "name the same file", needs: "symlink"},
		{name: "a dangling link to the new key", keyOut: "k11.pem", out: "dangling.pem", force: true, want: "name the same file", needs: "readlink"},
		{name: "--out a directory", keyOut: "k7.pem", out: "sub", want: "is a directory"},
		{name: "--out a directory with --force", keyOut: "k8.pem", out: "sub", force: true, want: "is a directory"},
		{name: "--out in a missing directory", keyOut: "k9.pem", out: "nowhere/x.csr", want: "does not exist"},
		{name: "--key-out in a missing directory", keyOut: "nowhere/k.pem", out: "x.csr", want: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := missing["symlink"]; tt.needs != "" && why != "" {
				t.Skipf("no symbolic links here: %s", why)
			}
			if why := missing["readlink"]; tt.needs == "readlink" && why != "" {
				t.Skipf("symbolic links do not read back here: %s", why)
			}
			keyOut, out := filepath.Join(dir, tt.keyOut), filepath.Join(dir, tt.out)
			args := []string{"csr", "new", "--fqdn", fqdn, "--key-out", keyOut, "--out", out}
			if tt.force {
				args = append(args, "--force")
			}
			r := runCLI(t, nil, args...)
			if r.code != exitUsage || !strings.Contains(firstLine(r.stderr), tt.want) {
				t.Errorf("exit %d, want %d with one line saying %q:\n%s", r.code, exitUsage, tt.want, r.stderr)
			}
			if got, _ := os.ReadFile(precious); string(got) != "PRECIOUS KEY" {
				t.Fatalf("the existing file was replaced: %q", got)
			}
			if _, err := os.Stat(keyOut); err == nil && !tt.keyLeft {
				t.Errorf("a key was written to %s though the command was refused", keyOut)
			}
		})
	}
	// With --force, an existing --out (not the key) is replaced.
	out := filepath.Join(dir, "old.csr")
	os.WriteFile(out, []byte("old"), 0o644)
	r := runCLI(t, nil, "csr", "new", "--fqdn", fqdn, "--key-out", filepath.Join(dir, "k10.pem"), "--out", out, "--force")
	if got, _ := os.ReadFile(out); r.code != exitOK || !strings.Contains(string(got), "CERTIFICATE REQUEST") {
		t.Errorf("--force over an old CSR: exit %d, file %q\n%s", r.code, got, r.stderr)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
