package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// SpineCA is one of NHS England's Spine certificate authorities, as NHS's own
// Python MESH client ships them for server verification (mesh-api.md A.3).
// meshdoctor recognises them in whatever bundle or chain it is shown, so it can
// say which environment a certificate belongs to.
type SpineCA struct {
	CommonName string
	// Issuer is the issuing CA's common name; equal to CommonName for a root.
	Issuer string
	// Environments are the MESH environments (short names: int, dev, dep,
	// train, live) whose certificates chain to this CA.
	Environments []string
	// Generation is "G2" (current) or "legacy".
	Generation string
	NotAfter   time.Time
	// SHA256 is the fingerprint of the DER certificate, upper-case hex
	// pairs separated by colons; empty where only the name is known.
	SHA256 string
}

// Root reports whether the CA is self-signed.
func (c SpineCA) Root() bool { return c.Issuer == c.CommonName }

// Expired reports whether the CA's validity ended before now.
func (c SpineCA) Expired(now time.Time) bool { return now.After(c.NotAfter) }

// ServesEnvironment reports whether certificates of env chain to this CA.
func (c SpineCA) ServesEnvironment(env string) bool { return slices.Contains(c.Environments, env) }

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err) // the table below is a constant
	}
	return t.Add(24*time.Hour - time.Second)
}

// spineCAs are the public facts of mesh-api.md A.3. The DEV and TRAIN legacy
// sub-CAs are known by name only.
var spineCAs = []SpineCA{
	{"NHS PTL Root Authority G2", "NHS PTL Root Authority G2", []string{"int", "dep"}, "G2", day("2042-08-02"),
		"54:0F:7C:D6:11:15:10:EF:8A:4A:78:93:9B:39:A0:75:C7:1A:68:F0:CE:71:BB:F2:81:41:F7:C6:BE:35:7F:8F"},
	{"NHS INT Authentication G2", "NHS PTL Root Authority G2", []string{"int", "dep"}, "G2", day("2032-08-04"),
		"EB:17:B9:FE:90:A1:9D:BF:E9:62:BF:41:D3:C9:07:55:8F:6F:78:7E:2F:D1:60:22:68:DF:CA:9D:3F:DB:F8:57"},
	{"NHS PTL Root Authority", "NHS PTL Root Authority", []string{"int", "dep", "dev", "train"}, "legacy", day("2039-07-05"),
		"77:59:A0:87:97:7A:9E:37:79:30:93:56:11:49:EE:40:B2:99:C7:02:7F:4F:A2:A1:C4:E9:EE:FE:AB:C1:B7:D8"},
	{"NHS INT Level 1C", "NHS PTL Root Authority", []string{"int"}, "legacy", day("2029-11-11"),
		"67:46:5B:F8:D7:2D:14:93:D4:41:AD:1B:C8:F0:8B:1E:C2:DE:97:71:C1:CC:40:BB:09:B1:1B:B7:2D:E1:4C:0E"},
	{"NHS DEP Level 1C", "NHS PTL Root Authority", []string{"dep"}, "legacy", day("2029-10-29"),
		"7E:1C:6B:12:44:AF:68:EC:86:4F:3A:F7:FD:02:0D:05:2C:2A:09:6F:3E:58:B6:DE:C2:1C:07:A5:84:D8:CA:41"},
	{"NHS DEV Level 1C", "NHS PTL Root Authority", []string{"dev"}, "legacy", time.Time{}, ""},
	{"NHS TRA Level 1C", "NHS PTL Root Authority", []string{"train"}, "legacy", time.Time{}, ""},
	{"NHS Root Authority G2", "NHS Root Authority G2", []string{"live"}, "G2", day("2042-04-07"),
		"C4:18:CF:A5:0A:AD:03:D8:26:FA:1A:69:32:B8:18:7B:E1:81:93:F4:B2:5A:7A:56:F3:0D:F4:5D:5F:89:F8:F7"},
	{"NHS Authentication G2", "NHS Root Authority G2", []string{"live"}, "G2", day("2032-09-15"),
		"1C:B9:4B:89:DD:6E:3C:BE:B4:98:F4:3F:85:AA:C7:F7:EA:3A:83:38:05:BA:0A:37:39:6D:66:9E:AA:79:46:39"},
	{"NHS Level 1C", "NHS Root Authority", []string{"live"}, "legacy", day("2024-06-04"),
		"B2:A9:83:F5:28:4F:26:7C:9E:77:05:AF:4A:69:38:7B:8D:2A:F5:E2:81:E1:94:E6:A2:79:E0:33:B0:6C:7F:DF"},
	{"NHS Root Authority", "NHS Root Authority", []string{"live"}, "legacy", day("2024-06-04"),
		"CB:7F:39:ED:D2:61:63:1F:E9:59:95:03:0F:79:3C:90:D3:DB:6D:84:91:2B:0F:F7:A1:A9:6F:ED:EA:6D:9F:10"},
}

// SpineCAs returns the table of known Spine CAs.
func SpineCAs() []SpineCA { return slices.Clone(spineCAs) }

// Fingerprint is the SHA-256 fingerprint of a certificate's DER, written as
// upper-case hex pairs separated by colons (the way openssl and the NHS
// pages print it).
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// LookupSpineCA recognises a Spine CA certificate. byName is false when the
// fingerprint matched; true when only the subject's common name matched a CA
// whose fingerprint is not known (the DEV and TRAIN legacy sub-CAs) — a
// weaker identification a report should say it is. A certificate whose name
// is a Spine CA's but whose fingerprint differs is not recognised: it is
// someone else's CA that borrowed the name.
func LookupSpineCA(cert *x509.Certificate) (ca SpineCA, byName, ok bool) {
	return LookupSpineCAIn(spineCAs, cert)
}

// LookupSpineCAIn is LookupSpineCA against another table: a test's
// NHS-like hierarchy, or a table updated after this release.
func LookupSpineCAIn(table []SpineCA, cert *x509.Certificate) (ca SpineCA, byName, ok bool) {
	fp := Fingerprint(cert)
	for _, c := range table {
		if c.SHA256 == fp {
			return c, false, true
		}
	}
	for _, c := range table {
		if c.SHA256 == "" && cert.Subject.CommonName == c.CommonName && cert.IsCA {
			return c, true, true
		}
	}
	return SpineCA{}, false, false
}
