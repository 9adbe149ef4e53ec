package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestShellCmdRoundTrip: each awkward value, quoted for cmd, reaches the
// program unchanged through cmd.exe (Wine's in CI), given the command line
// exactly as a user would paste it.
func TestShellCmdRoundTrip(t *testing.T) {
	cmdExe := filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	if _, err := os.Stat(cmdExe); err != nil {
		t.Skipf("cmd.exe not found: %v", err)
	}
	roundTrip(t, "cmd", func(prog, arg string) *exec.Cmd {
		c := exec.Command(cmdExe)
		c.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /d /s /c "` + prog + " " + arg + `"`}
		return c
	})
}

// TestShellPowerShellRoundTrip: the same through PowerShell, where it is
// installed (Windows, not Wine).
func TestShellPowerShellRoundTrip(t *testing.T) {
	ps, err := exec.LookPath("powershell.exe")
	if err != nil {
		if ps, err = exec.LookPath("pwsh.exe"); err != nil {
			t.Skip("PowerShell not installed")
		}
	}
	roundTrip(t, "powershell", func(prog, arg string) *exec.Cmd {
		return exec.Command(ps, "-NoProfile", "-NonInteractive", "-Command", "& "+prog+" "+arg)
	})
}
