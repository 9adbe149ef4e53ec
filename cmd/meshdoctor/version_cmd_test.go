package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
)

func TestVersionCommandAndFlagAgree(t *testing.T) {
	cmd, flag := runCLI(t, nil, "version"), runCLI(t, nil, "--version")
	if cmd.code != exitOK || flag.code != exitOK {
		t.Fatalf("exit %d and %d, want 0\n%s%s", cmd.code, flag.code, cmd.stderr, flag.stderr)
	}
	if cmd.stdout != flag.stdout {
		t.Errorf("version and --version differ:\n%q\n%q", cmd.stdout, flag.stdout)
	}
	want := "meshdoctor " + buildinfo.Get().String() + "\n"
	if cmd.stdout != want {
		t.Errorf("version printed %q, want %q", cmd.stdout, want)
	}
}

func TestVersionJSON(t *testing.T) {
	r := runCLI(t, nil, "version", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var members map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &members); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	var names []string
	for k := range members {
		names = append(names, k)
	}
	for _, want := range []string{"schema", "version", "commit", "dirty", "build_date", "go_version", "os", "arch"} {
		if _, ok := members[want]; !ok {
			t.Errorf("member %q missing from %s", want, r.stdout)
		}
	}
	var got versionReport
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if want := (versionReport{Schema: 1, Info: buildinfo.Get()}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got.OS != runtime.GOOS || got.Arch != runtime.GOARCH || got.GoVersion != runtime.Version() {
		t.Errorf("platform %s/%s %s, want %s/%s %s", got.OS, got.Arch, got.GoVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())
	}
}

func TestVersionBadFormat(t *testing.T) {
	if r := runCLI(t, nil, "version", "--format", "yaml"); r.code != exitUsage || !strings.Contains(r.stderr, `--format "yaml"`) {
		t.Errorf("exit %d, stderr %q; want a usage error naming the format", r.code, r.stderr)
	}
}

// TestVersionStamped links a binary the way make build and make dist stamp
// it, so a renamed variable or package cannot leave releases unstamped.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not installed: ", err)
	}
	const pkg = "github.com/meshdoctor/meshdoctor/internal/buildinfo"
	want := buildinfo.Info{
		Version: "v9.8.7", Commit: "0123456789abcdef0123456789abcdef01234567", Dirty: true,
		BuildDate: "2026-12-05T00:02:03Z", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
	bin := filepath.Join(t.TempDir(), "meshdoctor")
	ldflags := "-X " + pkg + ".version=" + want.Version + " -X " + pkg + ".commit=" + want.Commit +
		" -X " + pkg + ".date=" + want.BuildDate + " -X " + pkg + ".dirty=true"
	if out, err := exec.Command(gobin, "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--format", "json").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	var got versionReport
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, versionReport{Schema: 1, Info: want}) {
		t.Errorf("stamped binary says %+v, want %+v", got.Info, want)
	}
	text, _ := exec.Command(bin, "--version").Output()
	if w := "meshdoctor v9.8.7 (commit 0123456789ab with uncommitted changes, 2026-12-05T00:02:03Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"; string(text) != w {
		t.Errorf("--version = %q, want %q", text, w)
	}
}
