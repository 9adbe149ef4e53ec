//go:build !windows

package console

import "os"

// enableVT: Unix terminals read ANSI sequences as they are.
func enableVT(*os.File) bool { return true }
