package geo

import (
	"slices"
	"testing"
)

// TestSystemDirs: geoipupdate's folders on each platform, from the
// environment given (never this machine's).
func TestSystemDirs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		goos string
		env  map[string]string
		want []string
	}{
		{"windows", map[string]string{"ProgramData": `D:\ProgramData`, "SystemDrive": "C:"},
			[]string{`D:\ProgramData\MaxMind\GeoIPUpdate\GeoIP`, `C:\ProgramData\MaxMind\GeoIPUpdate\GeoIP`}},
		{"windows", map[string]string{"ProgramData": `C:\PROGRAMDATA\`, "SystemDrive": `C:`},
			[]string{`C:\PROGRAMDATA\MaxMind\GeoIPUpdate\GeoIP`}},
		{"windows", nil, []string{`C:\ProgramData\MaxMind\GeoIPUpdate\GeoIP`}},
		{"linux", nil, []string{"/var/lib/GeoIP", "/usr/share/GeoIP", "/usr/local/share/GeoIP"}},
		{"darwin", nil, []string{"/usr/local/share/GeoIP", "/opt/homebrew/var/GeoIP", "/usr/local/var/GeoIP"}},
	}
	for _, tt := range tests {
		if got := systemDirs(tt.goos, env(tt.env)); !slices.Equal(got, tt.want) {
			t.Errorf("%s %v: %q, want %q", tt.goos, tt.env, got, tt.want)
		}
	}
}
