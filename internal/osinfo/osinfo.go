// Package osinfo says which operating system meshdoctor runs on, in the words
// its two readers need: Version for MESH's mex-OSVersion header (a kernel
// release, or Windows' major.minor.build.revision) and Description for the
// support bundle (the product name as well, so the service desk knows what
// "10.0.20348" is). Each platform's file asks its own system.
package osinfo

import (
	"fmt"
	"strings"
)

// Version is the operating system's version for mex-OSVersion, or "unknown".
func Version() string { return headerSafe(version()) }

// Description names the operating system and its version for a person, or
// "unknown".
func Description() string { return description() }

// headerSafe drops bytes that may not appear in a header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// windowsRelease is what Windows says of itself: RtlGetVersion's numbers
// (which, unlike GetVersionEx, are not bent for compatibility) and the
// registry's product name, feature release and update build revision.
type windowsRelease struct {
	Major, Minor, Build, UBR uint32
	Product                  string // ProductName: "Windows Server 2022 Datacenter"
	Display                  string // DisplayVersion or ReleaseId: "21H2"
}

// version is major.minor.build.revision, as winver shows it.
func (w windowsRelease) version() string {
	v := fmt.Sprintf("%d.%d.%d", w.Major, w.Minor, w.Build)
	if w.UBR != 0 {
		v += fmt.Sprintf(".%d", w.UBR)
	}
	return v
}

// description: "Windows Server 2022 Datacenter 21H2 (10.0.20348.2340)".
// Windows 11 still calls itself "Windows 10" in ProductName; its builds
// start at 22000.
func (w windowsRelease) description() string {
	product := strings.TrimSpace(w.Product)
	if product == "" {
		product = "Windows"
	}
	if w.Build >= 22000 && strings.HasPrefix(product, "Windows 10") {
		product = "Windows 11" + strings.TrimPrefix(product, "Windows 10")
	}
	if d := strings.TrimSpace(w.Display); d != "" {
		product += " " + d
	}
	return product + " (" + w.version() + ")"
}
