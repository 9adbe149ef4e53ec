//go:build !windows

package osinfo

import (
	"bufio"
	"os"
	"strings"
)

// version is the kernel release and version where the system tells it
// (Linux), as NHS's Python client reports them.
func version() string {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(rel))
	if ver, err := os.ReadFile("/proc/sys/kernel/version"); err == nil {
		v += " " + strings.TrimSpace(string(ver))
	}
	return v
}

// description is the os-release name and, on Linux, the kernel release.
func description() string {
	var parts []string
	if f, err := os.Open("/etc/os-release"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				parts = append(parts, strings.Trim(v, `"'`))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "kernel "+strings.TrimSpace(string(b)))
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, "; ")
}
