package secretfile

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// restrict gives the file a protected DACL (nothing inherited from the
// folder) with one entry: full control for the user running meshdoctor.
// Administrators keep only what their privileges give them (taking
// ownership, backup), as with mode 0600 on Unix. The DACL is read back, so
// that the words never claim a protection the file system did not keep.
func restrict(f *os.File) (string, error) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("who is running meshdoctor: %w", err)
	}
	sid := user.User.Sid
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.NO_INHERITANCE,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(sid),
		},
	}}, nil)
	if err != nil {
		return "", err
	}
	// By name: the handle os.CreateTemp opened has no WRITE_DAC access, and
	// the owner may always change the DACL.
	err = windows.SetNamedSecurityInfo(f.Name(), windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	name := accountName(sid)
	notKept := "this drive did not keep the access list meshdoctor set (a FAT drive, or Wine): others may be able to read it; move it to an NTFS folder only " + name + " can read"
	switch {
	case errors.Is(err, windows.ERROR_NOT_SUPPORTED), errors.Is(err, windows.ERROR_INVALID_FUNCTION):
		return notKept, nil
	case err != nil:
		return "", err
	}
	if ok, err := ownerOnly(f.Name(), sid); err != nil || !ok {
		return notKept, nil
	}
	return "an access list that lets only " + name + " read it", nil
}

// ownerOnly reports whether the file's DACL is protected and grants only sid.
func ownerOnly(path string, sid *windows.SID) (bool, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return false, err
	}
	control, _, err := sd.Control()
	if err != nil {
		return false, err
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil || control&windows.SE_DACL_PROTECTED == 0 || dacl.AceCount != 1 {
		return false, err
	}
	var ace *windows.ACCESS_ALLOWED_ACE
	if err := windows.GetAce(dacl, 0, &ace); err != nil {
		return false, err
	}
	granted := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
	return ace.Header.AceType == windows.ACCESS_ALLOWED_ACE_TYPE && granted.Equals(sid), nil
}

func accountName(sid *windows.SID) string {
	account, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil:
		return sid.String()
	case domain != "":
		return domain + `\` + account
	}
	return account
}
