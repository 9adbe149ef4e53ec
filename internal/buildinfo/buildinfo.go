// Package buildinfo is the one answer to "which meshdoctor is this?": the
// version command, the reports' tool section, the HTTP User-Agent and
// mex-ClientVersion, and the exporter's build_info metric all read it, so
// they cannot disagree.
//
// A release build (make build, make dist) stamps the version, commit and date
// at link time; any other build (go build, go install, go test, or meshdoctor
// used as a library) falls back to what the Go toolchain recorded in the
// binary (runtime/debug.ReadBuildInfo: the module version and the vcs.*
// settings). It is internal: the module's packages share it, and it is not a
// promise to anyone outside.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Module is meshdoctor's module path, how it is found among a library
// user's dependencies.
const Module = "github.com/meshdoctor/meshdoctor"

// Set at link time only (-ldflags "-X <pkg>.version=…"), never at run time:
// the linker's way to stamp a binary needs package variables.
var (
	version string // e.g. v0.1.0
	commit  string // full revision hash
	date    string // commit time, RFC 3339 (a reproducible build's date)
	dirty   string // "true" when built from a modified work tree
)

// Info describes one build. Its JSON form is what `meshdoctor version
// --format json` prints: members are only ever added.
type Info struct {
	Version string `json:"version"`
	// Commit is the full revision, empty when neither the build nor the Go
	// toolchain recorded one (a build outside a git work tree).
	Commit string `json:"commit"`
	// Dirty is true when the work tree had changes the commit does not hold.
	Dirty bool `json:"dirty"`
	// BuildDate is the commit's time, which a reproducible build takes as
	// its date (SOURCE_DATE_EPOCH); empty when unknown.
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Get is this binary's build information, worked out once.
var Get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(stamp{version, commit, date, dirty}, bi)
})

// Version is this binary's version: a tag such as v0.1.0, a Go
// pseudo-version for a commit between tags, or "dev" when nothing says.
func Version() string { return Get().Version }

// ClientVersion is the product token meshdoctor sends as mex-ClientVersion,
// in the name==version form NHS's Python client uses.
func ClientVersion() string { return "meshdoctor==" + Version() }

// UserAgent is the product token for HTTP requests other than MESH's
// (MESH's own User-Agent has NHS's semicolon-separated form; see mesh).
func UserAgent() string { return "meshdoctor/" + Version() }

// ShortCommit is the first 12 characters of the commit, as Go's
// pseudo-versions spell it; empty when unknown.
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 {
		return i.Commit[:12]
	}
	return i.Commit
}

// String is the one-line form: "v0.1.0 (commit 6f8d1f4a2b3c, 2026-12-05T00:10:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (")
	if c := i.ShortCommit(); c != "" {
		fmt.Fprintf(&b, "commit %s", c)
		if i.Dirty {
			b.WriteString(" with uncommitted changes")
		}
	} else {
		b.WriteString("commit unknown")
	}
	if i.BuildDate != "" {
		b.WriteString(", ")
		b.WriteString(i.BuildDate)
	}
	fmt.Fprintf(&b, ", %s %s/%s)", i.GoVersion, i.OS, i.Arch)
	return b.String()
}

// stamp is what the linker set.
type stamp struct{ version, commit, date, dirty string }

// resolve prefers the stamp, then the toolchain's record; bi may be nil.
func resolve(s stamp, bi *debug.BuildInfo) Info {
	i := Info{
		Version:   s.version,
		Commit:    s.commit,
		BuildDate: s.date,
		Dirty:     s.dirty == "true",
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if i.Version == "" {
			i.Version = moduleVersion(bi)
		}
		// The vcs.* settings describe the main module's work tree: only
		// meshdoctor's own when meshdoctor is the program built.
		if bi.Main.Path == Module && s.commit == "" {
			for _, kv := range bi.Settings {
				switch kv.Key {
				case "vcs.revision":
					i.Commit = kv.Value
				case "vcs.modified":
					i.Dirty = kv.Value == "true"
				case "vcs.time":
					if i.BuildDate == "" {
						i.BuildDate = kv.Value
					}
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if t, err := time.Parse(time.RFC3339, i.BuildDate); err == nil {
		i.BuildDate = t.UTC().Format(time.RFC3339)
	}
	return i
}

// moduleVersion is meshdoctor's module version as the toolchain recorded
// it: the main module's (go install …@v0.1.0, or a pseudo-version when built
// in a git work tree), or the dependency's when a program uses meshdoctor's
// packages.
func moduleVersion(bi *debug.BuildInfo) string {
	if bi.Main.Path == Module {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == Module {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}
