package buildinfo

import (
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"testing"
)

// The recipes that stamp a build name this package's variables by string:
// a renamed variable would leave releases saying "dev" without failing to
// build. Each recipe must set exactly version, commit, date and dirty.
func TestRecipesStampEveryVariable(t *testing.T) {
	want := []string{"commit", "date", "dirty", "version"}
	x := regexp.MustCompile(`-X ` + regexp.QuoteMeta(Module) + `/internal/buildinfo\.(\w+)=`)
	stamped := func(text string) []string {
		var names []string
		for _, m := range x.FindAllStringSubmatch(text, -1) {
			names = append(names, m[1])
		}
		slices.Sort(names)
		return names
	}
	t.Run(".ko.yaml", func(t *testing.T) {
		b, err := os.ReadFile("../../.ko.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := stamped(string(b)); !slices.Equal(got, want) {
			t.Errorf(".ko.yaml stamps %v, want %v", got, want)
		}
	})
	t.Run("release/version.sh", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("a bash script; release builds run on Linux")
		}
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skip("bash not installed: ", err)
		}
		cmd := exec.Command(bash, "../../release/version.sh", "ldflags")
		cmd.Env = append(os.Environ(), "VERSION=v1.2.3", "COMMIT=abc", "SOURCE_DATE_EPOCH=1764892800")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("version.sh: %v", err)
		}
		if got := stamped(string(out)); !slices.Equal(got, want) {
			t.Errorf("version.sh stamps %v, want %v\n%s", got, want, out)
		}
		for _, s := range []string{"buildinfo.version=v1.2.3 ", "buildinfo.commit=abc ", "buildinfo.date=2025-12-05T00:00:00Z "} {
			if !regexp.MustCompile(regexp.QuoteMeta(s)).Match(out) {
				t.Errorf("version.sh ldflags lack %q: %s", s, out)
			}
		}
	})
}

// TestVersionScriptNamesVersionsAsGo builds a small module in a scratch git
// repository at each point of a release's life and compares the version
// release/version.sh gives with the one the Go toolchain records, so that
// `make build`, `make dist` and `go build`/`go install` agree.
func TestVersionScriptNamesVersionsAsGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	if runtime.GOOS == "windows" {
		t.Skip("a bash script; release builds run on Linux")
	}
	for _, tool := range []string{"bash", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	script, err := os.ReadFile("../../release/version.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir, bin := t.TempDir(), t.TempDir()+"/prog" // the program outside the work tree, or it would be dirty
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org", "GOFLAGS=-buildvcs=true", "GOTOOLCHAIN=local")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(dir+"/release", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.org/v\n\ngo 1.21\n")
	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime/debug\"\n)\n\nfunc main() {\n\tbi, _ := debug.ReadBuildInfo()\n\tfmt.Print(bi.Main.Version)\n}\n")
	write("release/version.sh", string(script))
	run(nil, "git", "init", "-q")
	run(nil, "git", "add", ".")
	// Distinct committer times, as Go's pseudo-versions name them.
	commit := func(when string) {
		run([]string{"GIT_COMMITTER_DATE=" + when, "GIT_AUTHOR_DATE=" + when}, "git", "commit", "-q", "--allow-empty", "-m", when)
	}
	versions := func() (script, goVersion string) {
		t.Helper()
		out := run(nil, "bash", "release/version.sh", "env")
		m := regexp.MustCompile(`(?m)^VERSION=(\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no VERSION in %s", out)
		}
		run(nil, "go", "build", "-o", bin, ".")
		return m[1], run(nil, bin)
	}
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"no tag yet", func() { commit("2026-12-01T10:00:00Z") }, "v0.0.0-20261201100000-"},
		{"on a tag", func() { run(nil, "git", "tag", "v0.1.0") }, "v0.1.0"},
		{"after a tag", func() { commit("2026-12-02T11:30:00+01:00") }, "v0.1.1-0.20261202103000-"},
		{"on a pre-release tag", func() { run(nil, "git", "tag", "v0.2.0-rc.1") }, "v0.2.0-rc.1"},
		{"after a pre-release tag", func() { commit("2026-12-03T00:00:00Z") }, "v0.2.0-rc.1.0.20261203000000-"},
		{"uncommitted changes", func() { write("notes.txt", "not committed") }, "v0.2.0-rc.1.0.20261203000000-"},
	}
	for _, s := range steps {
		s.do()
		got, goVersion := versions()
		if !regexp.MustCompile(regexp.QuoteMeta(s.want)).MatchString(got) {
			t.Errorf("%s: version.sh says %s, want %s…", s.name, got, s.want)
		}
		if dirty := regexp.MustCompile(`\+dirty$`).MatchString(got); dirty != (s.name == "uncommitted changes") {
			t.Errorf("%s: version.sh says %s: +dirty only with uncommitted changes", s.name, got)
		}
		if got != goVersion {
			t.Errorf("%s: version.sh says %s, the Go toolchain %s", s.name, got, goVersion)
		}
	}
}
