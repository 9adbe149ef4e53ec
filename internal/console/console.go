// Package console says what a terminal can show. Colour and in-place
// progress lines are ANSI escape sequences: a Unix terminal reads them, a
// Windows console only once virtual-terminal processing is on (Windows 10
// and later can turn it on; older consoles would print the escapes as
// text). Anything that is not a terminal (a pipe, a file, NUL, /dev/null)
// gets none.
package console

import (
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal (a console on Windows).
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ANSI reports whether w is a terminal that reads ANSI escape sequences,
// turning on virtual-terminal processing for a Windows console that has it
// off. It is false where that cannot be done: no colour rather than
// escapes shown as text.
func ANSI(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && enableVT(f)
}
