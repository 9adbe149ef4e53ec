package osinfo

import (
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

func release() windowsRelease {
	v := windows.RtlGetVersion()
	w := windowsRelease{Major: v.MajorVersion, Minor: v.MinorVersion, Build: v.BuildNumber}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE)
	if err != nil {
		return w
	}
	defer k.Close()
	w.Product, _, _ = k.GetStringValue("ProductName")
	if w.Display, _, err = k.GetStringValue("DisplayVersion"); err != nil { // before 20H2
		w.Display, _, _ = k.GetStringValue("ReleaseId")
	}
	if ubr, _, err := k.GetIntegerValue("UBR"); err == nil {
		w.UBR = uint32(ubr)
	}
	return w
}

func version() string     { return release().version() }
func description() string { return release().description() }
