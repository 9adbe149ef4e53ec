//go:build unix

package main

import (
	"os/exec"
	"testing"
)

// TestShellPOSIXRoundTrip: each awkward value, quoted, reaches the program
// unchanged through a real sh.
func TestShellPOSIXRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("sh not installed")
	}
	roundTrip(t, "posix", func(prog, arg string) *exec.Cmd { return exec.Command(sh, "-c", prog+" "+arg) })
}
