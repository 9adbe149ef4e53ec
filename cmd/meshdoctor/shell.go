package main

import (
	"fmt"
	"runtime"
	"strings"
)

// shell is a command-line dialect that token new --curl writes for: the
// command must paste into the user's own prompt and reach curl unchanged.
type shell struct {
	name string
	// curl is the program to call: curl.exe in PowerShell, where "curl" is
	// an alias of Invoke-WebRequest in Windows PowerShell 5.1.
	curl string
	// cont ends a line that the command continues on the next.
	cont  string
	quote func(string) (string, error)
}

var shells = map[string]shell{
	"posix":      {"posix", "curl", " \\\n  ", func(s string) (string, error) { return shellQuote(s), nil }},
	"powershell": {"powershell", "curl.exe", " `\n  ", powershellQuote},
	"cmd":        {"cmd", "curl.exe", " ^\n  ", cmdQuote},
}

// shellNames lists the --shell values, for help and errors.
const shellNames = "posix, powershell or cmd"

// shellFor is the dialect --shell names, or this platform's usual one:
// PowerShell on Windows (the prompt Windows Server opens), POSIX elsewhere.
func shellFor(name string) (shell, error) {
	if name == "" {
		if runtime.GOOS == "windows" {
			return shells["powershell"], nil
		}
		return shells["posix"], nil
	}
	sh, ok := shells[strings.ToLower(name)]
	if !ok {
		return shell{}, fmt.Errorf("--shell %q: want %s", name, shellNames)
	}
	return sh, nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// powershellQuote quotes s as a PowerShell verbatim string, in which only a
// single quote is special (doubled; PowerShell takes the typographic single
// quotes for one too). A double quote would reach curl.exe mangled by Windows
// PowerShell 5.1's passing of arguments, and a control character cannot be
// pasted: both are refused.
func powershellQuote(s string) (string, error) {
	if err := windowsArgCheck(s, `"`); err != nil {
		return "", err
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:\\") == "" &&
		strings.IndexAny(s[:1], "-0123456789.") < 0 {
		return s, nil // a bare word PowerShell cannot read as a number or a parameter
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		if r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b' {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// cmdQuote quotes s for cmd.exe: within double quotes cmd takes & | < > ^ ( )
// and spaces literally, but it still expands %VAR% (and !VAR! with delayed
// expansion), and a double quote cannot be written inside them: values with
// those are refused, with the way round. A trailing backslash is doubled so
// that curl.exe's argument parser does not read it as escaping the quote.
func cmdQuote(s string) (string, error) {
	if err := windowsArgCheck(s, `"%!`); err != nil {
		return "", err
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:\\@+") == "" {
		return s, nil
	}
	trail := len(s) - len(strings.TrimRight(s, `\`))
	return `"` + s + strings.Repeat(`\`, trail) + `"`, nil
}

// windowsArgCheck refuses what a Windows prompt cannot carry to curl.exe
// unchanged: control characters and the dialect's unquotable characters.
func windowsArgCheck(s, unquotable string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q holds a control character, which cannot be pasted into a Windows prompt", s)
		}
	}
	if i := strings.IndexAny(s, unquotable); i >= 0 {
		return fmt.Errorf("%q holds %q, which this shell cannot pass to curl.exe unchanged: give --shell posix (Git Bash, WSL) or another path", s, s[i:i+1])
	}
	return nil
}
