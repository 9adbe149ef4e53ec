//go:build windows && wine

// Package winefix is linked into the test binaries of the Wine CI job
// (.ci/wine/run) and nowhere else. Go's os.RemoveAll deletes with
// FileDispositionInformationEx, which Wine 8.0 answers with
// STATUS_NOT_IMPLEMENTED ("unlinkat: Invalid function") instead of a status Go
// falls back on, so every t.TempDir clean-up would fail. This switches Go to
// the fallback it uses itself on Windows before 10 1607 and on FAT32
// (FileDispositionInfo), so the clean-ups really happen and a test fails under
// Wine only for what it tests. Real Windows never gets this package.
package winefix

import _ "unsafe" // for go:linkname

// The job links with -ldflags=-checklinkname=0, which this reference needs.
//
//go:linkname deleteatFallback internal/syscall/windows.TestDeleteatFallback
var deleteatFallback bool

func init() { deleteatFallback = true }
