package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	const rev = "6f8d1f4a2b3c4d5e6f708192a3b4c5d6e7f80912"
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: rev},
		{Key: "vcs.time", Value: "2026-12-05T01:02:03+01:00"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := map[string]struct {
		stamp stamp
		bi    *debug.BuildInfo
		want  Info
	}{
		"nothing at all": {
			want: Info{Version: "dev"},
		},
		"stamped release wins over the toolchain": {
			stamp: stamp{"v0.1.0", rev, "2026-12-05T00:02:03Z", "false"},
			bi:    &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "(devel)"}, Settings: vcs},
			want:  Info{Version: "v0.1.0", Commit: rev, BuildDate: "2026-12-05T00:02:03Z", GoVersion: "go1.26.8"},
		},
		"go build in a work tree: the pseudo-version and vcs settings": {
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "v0.0.0-20261205000203-6f8d1f4a2b3c+dirty"}, Settings: vcs},
			want: Info{Version: "v0.0.0-20261205000203-6f8d1f4a2b3c+dirty", Commit: rev, Dirty: true,
				BuildDate: "2026-12-05T00:02:03Z", GoVersion: "go1.26.8"},
		},
		"go build with -buildvcs=false": {
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "(devel)"}},
			want: Info{Version: "dev", GoVersion: "go1.26.8"},
		},
		"go install at a tag": {
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: Module, Version: "v0.1.0"}},
			want: Info{Version: "v0.1.0", GoVersion: "go1.26.8"},
		},
		"a library user's program: the dependency's version, not its work tree": {
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.org/trust/tool", Version: "(devel)"},
				Deps: []*debug.Module{{Path: "golang.org/x/net", Version: "v0.61.0"}, {Path: Module, Version: "v0.2.0"}}, Settings: vcs},
			want: Info{Version: "v0.2.0", GoVersion: "go1.26.8"},
		},
		"a replaced dependency": {
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.org/trust/tool"},
				Deps: []*debug.Module{{Path: Module, Version: "v0.2.0", Replace: &debug.Module{Path: "../meshdoctor"}}}},
			want: Info{Version: "v0.2.0", GoVersion: "go1.26.8"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.want.OS, tc.want.Arch = runtime.GOOS, runtime.GOARCH
			if tc.want.GoVersion == "" {
				tc.want.GoVersion = runtime.Version()
			}
			if got := resolve(tc.stamp, tc.bi); got != tc.want {
				t.Errorf("resolve:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := map[string]struct {
		in   Info
		want string
	}{
		"release": {
			Info{Version: "v0.1.0", Commit: "6f8d1f4a2b3c4d5e6f70", BuildDate: "2026-12-05T00:02:03Z", GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"},
			"v0.1.0 (commit 6f8d1f4a2b3c, 2026-12-05T00:02:03Z, go1.26.8 linux/amd64)",
		},
		"dirty": {
			Info{Version: "dev", Commit: "6f8d1f4", Dirty: true, GoVersion: "go1.26.8", OS: "windows", Arch: "arm64"},
			"dev (commit 6f8d1f4 with uncommitted changes, go1.26.8 windows/arm64)",
		},
		"unknown": {
			Info{Version: "dev", GoVersion: "go1.26.8", OS: "darwin", Arch: "arm64"},
			"dev (commit unknown, go1.26.8 darwin/arm64)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProductTokensAgree(t *testing.T) {
	v := Version()
	if v == "" {
		t.Fatal("Version() is empty")
	}
	if got, want := ClientVersion(), "meshdoctor=="+v; got != want {
		t.Errorf("ClientVersion() = %q, want %q", got, want)
	}
	if got, want := UserAgent(), "meshdoctor/"+v; got != want {
		t.Errorf("UserAgent() = %q, want %q", got, want)
	}
}
