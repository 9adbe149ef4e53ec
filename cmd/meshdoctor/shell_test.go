package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// awkward are values a path, header or URL may hold that a shell would
// otherwise split, expand or eat.
var awkward = []string{
	"plain", "a b", "it's", "$HOME", "back`tick", "100%", "a&b|c<d>e^f", "(x);y", "!bang",
	`C:\Program Files\MESH\client key.pem`, `trailing\`, `trailing space\ `, "ünïcode", "‘curly’", "-dash", "1.50",
	`say "hi"`, "tab\there", "",
}

// refused says which awkward values each dialect refuses rather than risk.
var refused = map[string]func(string) bool{
	"posix":      func(string) bool { return false },
	"powershell": func(s string) bool { return strings.ContainsAny(s, "\"\t") },
	"cmd":        func(s string) bool { return strings.ContainsAny(s, "\"%!\t") },
}

// TestShellQuoting: what each dialect writes for some values, exactly.
func TestShellQuoting(t *testing.T) {
	tests := []struct{ shell, in, want string }{
		{"posix", "plain", "plain"},
		{"posix", "it's", `'it'\''s'`},
		{"posix", "", "''"},
		{"powershell", `C:\MESH\client.pem`, `C:\MESH\client.pem`},
		{"powershell", "it's $HOME", `'it''s $HOME'`},
		{"powershell", "‘curly’", "'‘‘curly’’'"},
		{"powershell", "1.50", "'1.50'"},
		{"powershell", "-dash", "'-dash'"},
		{"powershell", "", "''"},
		{"cmd", `C:\MESH\client.pem`, `C:\MESH\client.pem`},
		{"cmd", "a&b|c<d>e^f", `"a&b|c<d>e^f"`},
		{"cmd", `C:\Program Files\MESH\`, `"C:\Program Files\MESH\\"`},
		{"cmd", "", `""`},
	}
	for _, tt := range tests {
		got, err := shells[tt.shell].quote(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s %q: %s (%v), want %s", tt.shell, tt.in, got, err, tt.want)
		}
	}
	for name, sh := range shells {
		for _, v := range awkward {
			_, err := sh.quote(v)
			if (err != nil) != refused[name](v) {
				t.Errorf("%s %q: error %v, want refused=%v", name, v, err, refused[name](v))
			}
			if err != nil && (strings.Count(err.Error(), "\n") > 0 || !strings.Contains(err.Error(), "--shell posix") && !strings.Contains(err.Error(), "control character")) {
				t.Errorf("%s %q: error %q is not one line with a way round", name, v, err)
			}
		}
	}
}

// roundTrip runs the test binary as curl would be run, through a real shell
// (given by run, which gets the program and one quoted argument), and checks
// that the argument arrives unchanged.
func roundTrip(t *testing.T, name string, run func(prog, arg string) *exec.Cmd) {
	sh := shells[name]
	prog, err := sh.quote(os.Args[0])
	if err != nil {
		t.Skipf("the test binary's path cannot be written for %s: %v", name, err)
	}
	call := func(v string) ([]string, error) {
		q, err := sh.quote(v)
		if err != nil {
			return nil, err
		}
		cmd := run(prog, q)
		cmd.Env = append(os.Environ(), "MESHDOCTOR_TEST_PRINT_ARGS=1", "HOME=/home/somebody")
		out, err := cmd.Output()
		var got []string
		if err == nil {
			err = json.Unmarshal(out, &got)
		}
		return got, err
	}
	// A shell that runs nothing at all (Wine's stub powershell.exe) is not
	// one to test against.
	if got, err := call("plain"); err != nil || len(got) == 0 {
		t.Skipf("%s here runs no program (%q, %v)", name, got, err)
	}
	for _, v := range awkward {
		q, err := sh.quote(v)
		if err != nil {
			continue
		}
		if got, err := call(v); err != nil || len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s arrived as %q (%v), want [%q]", name, q, got, err, v)
		}
	}
}
