package osinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestWindowsRelease(t *testing.T) {
	tests := []struct {
		w             windowsRelease
		version, desc string
	}{
		{windowsRelease{10, 0, 20348, 2340, "Windows Server 2022 Datacenter", "21H2"},
			"10.0.20348.2340", "Windows Server 2022 Datacenter 21H2 (10.0.20348.2340)"},
		{windowsRelease{10, 0, 14393, 6897, "Windows Server 2016 Standard", "1607"},
			"10.0.14393.6897", "Windows Server 2016 Standard 1607 (10.0.14393.6897)"},
		// Windows 11 keeps "Windows 10" in ProductName.
		{windowsRelease{10, 0, 22631, 4460, "Windows 10 Pro", "23H2"},
			"10.0.22631.4460", "Windows 11 Pro 23H2 (10.0.22631.4460)"},
		// Nothing from the registry: the numbers alone.
		{windowsRelease{Major: 10, Minor: 0, Build: 19045},
			"10.0.19045", "Windows (10.0.19045)"},
	}
	for _, tt := range tests {
		if got := tt.w.version(); got != tt.version {
			t.Errorf("version %q, want %q", got, tt.version)
		}
		if got := tt.w.description(); got != tt.desc {
			t.Errorf("description %q, want %q", got, tt.desc)
		}
	}
}

// TestThisMachine: this system names itself (Linux through /proc, Windows
// through RtlGetVersion and the registry, under Wine too).
func TestThisMachine(t *testing.T) {
	v, d := Version(), Description()
	t.Logf("version %q; description %q", v, d)
	switch runtime.GOOS {
	case "windows":
		if !strings.Contains(d, "Windows") || !strings.Contains(d, v) || strings.Count(v, ".") < 2 {
			t.Errorf("version %q, description %q", v, d)
		}
	case "linux":
		if v == "unknown" || d == "unknown" || !strings.Contains(d, "kernel ") {
			t.Errorf("version %q, description %q", v, d)
		}
	}
	if headerSafe(v) != v {
		t.Errorf("version %q is not a valid header value", v)
	}
}
