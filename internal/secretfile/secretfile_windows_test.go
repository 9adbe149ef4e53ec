package secretfile

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// restrictedToOwner reads the file's DACL back: protected (nothing
// inherited) and one entry, granting the current user. Wine keeps no file
// ACLs (it makes one up from the Unix mode): there the words must say the
// file is not protected, instead.
func restrictedToOwner(t *testing.T, path, protection string) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := ownerOnly(path, user.User.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		if !strings.Contains(protection, "lets only") {
			t.Errorf("restricted to its owner, but the words say %q", protection)
		}
		return
	}
	if !underWine() {
		sd, _ := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
		t.Fatalf("the key file's DACL is %s, want only %s", sd, user.User.Sid)
	}
	if !strings.Contains(protection, "others may be able to read it") {
		t.Errorf("under Wine the ACL was not kept, but the words say %q", protection)
	}
	t.Logf("Wine keeps no file ACLs; the words say so: %s", protection)
}

// underWine: Wine's ntdll exports wine_get_version; Windows' does not.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
