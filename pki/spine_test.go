package pki

import (
	"regexp"
	"testing"
	"time"
)

func TestFingerprintFormat(t *testing.T) {
	f := testFixture(t)
	fp := Fingerprint(f.h.Root.Cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q is not 32 colon-separated upper-case hex pairs", fp)
	}
}

func TestSpineTableIsWellFormed(t *testing.T) {
	names := map[string]bool{}
	for _, c := range SpineCAs() {
		names[c.CommonName] = true
	}
	for _, c := range SpineCAs() {
		if !names[c.Issuer] {
			t.Errorf("%s: issuer %q is not in the table", c.CommonName, c.Issuer)
		}
		if c.SHA256 != "" && len(c.SHA256) != 95 {
			t.Errorf("%s: fingerprint %q is malformed", c.CommonName, c.SHA256)
		}
		if len(c.Environments) == 0 {
			t.Errorf("%s: no environments", c.CommonName)
		}
	}
	legacyLive := map[string]bool{"NHS Root Authority": true, "NHS Level 1C": true}
	for _, c := range SpineCAs() {
		if got := c.Expired(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) && c.SHA256 != ""; got != legacyLive[c.CommonName] {
			t.Errorf("%s: expired in 2026 = %v, want %v", c.CommonName, got, legacyLive[c.CommonName])
		}
	}
}

func TestLookupSpineCA(t *testing.T) {
	// A CA that borrows a fingerprinted Spine name is not a Spine CA; one
	// named like a CA known by name only is recognised, flagged byName.
	borrowed, err := NewHierarchy(HierarchyOptions{Name: "NHS INT"})
	if err != nil {
		t.Fatal(err)
	}
	if borrowed.SubCA.Cert.Subject.CommonName != "NHS INT Authentication G2" {
		t.Fatalf("test set-up: sub-CA is %q", borrowed.SubCA.Cert.Subject.CommonName)
	}
	if ca, _, ok := LookupSpineCA(borrowed.SubCA.Cert); ok {
		t.Errorf("a look-alike of %s was recognised as a Spine CA", ca.CommonName)
	}
	if _, _, ok := LookupSpineCA(testFixture(t).h.Root.Cert); ok {
		t.Error("meshdoctor's test root was recognised as a Spine CA")
	}
	dev := *borrowed.SubCA.Cert
	dev.Subject.CommonName = "NHS DEV Level 1C"
	ca, byName, ok := LookupSpineCA(&dev)
	if !ok || !byName || !ca.ServesEnvironment("dev") {
		t.Errorf("NHS DEV Level 1C by name: got %+v byName=%v ok=%v", ca, byName, ok)
	}
}
