package pki

import (
	"encoding/asn1"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Protection is how a keystore protects itself: the integrity check (a
// PKCS#12 MAC, a JKS digest) and the encryption of its certificates and
// keys. It is read from the file's structure, without the password.
type Protection struct {
	// MAC names the integrity algorithm, e.g. "HMAC-SHA-256, 2048
	// iterations"; "none" for a PKCS#12 without a MAC.
	MAC string
	// CertEncryption and KeyEncryption name the ciphers, e.g.
	// "PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC)" or
	// "pbeWithSHAAnd40BitRC2-CBC"; "none" when stored in the clear.
	CertEncryption string
	KeyEncryption  string
	// Legacy lists what is old and weak, for a warning: "SHA-1 MAC",
	// "40-bit RC2 certificate encryption", "3DES key encryption".
	Legacy []string
}

// OIDs of PKCS#12 and PKCS#5 (RFC 7292, RFC 8018).
var (
	oidData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBagType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidFriendlyName      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidPBES2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMACWithSHA1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidAES128CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC        = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidDESCBC            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 7}
	oidPKCS12PBEPrefix   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
	oidPKCS5PBES1Prefix  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	maxKDFIterations     = 10_000_000 // more is a hostile or corrupt file, not a real keystore
	algorithmNames       = map[string]string{}
	legacyAlgorithmNames = map[string]bool{}
)

func init() {
	for oid, name := range map[string]string{
		"1.3.14.3.2.26":           "SHA-1",
		"1.2.840.113549.2.5":      "MD5",
		"2.16.840.1.101.3.4.2.4":  "SHA-224",
		"2.16.840.1.101.3.4.2.1":  "SHA-256",
		"2.16.840.1.101.3.4.2.2":  "SHA-384",
		"2.16.840.1.101.3.4.2.3":  "SHA-512",
		"1.2.840.113549.2.7":      "HMAC-SHA-1",
		"1.2.840.113549.2.8":      "HMAC-SHA-224",
		"1.2.840.113549.2.9":      "HMAC-SHA-256",
		"1.2.840.113549.2.10":     "HMAC-SHA-384",
		"1.2.840.113549.2.11":     "HMAC-SHA-512",
		"1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
		"1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
		"1.2.840.113549.1.12.1.3": "pbeWithSHAAnd3-KeyTripleDES-CBC",
		"1.2.840.113549.1.12.1.4": "pbeWithSHAAnd2-KeyTripleDES-CBC",
		"1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
		"1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
		"1.2.840.113549.1.5.3":    "pbeWithMD5AndDES-CBC",
		"1.2.840.113549.1.5.10":   "pbeWithSHA1AndDES-CBC",
		"2.16.840.1.101.3.4.1.2":  "AES-128-CBC",
		"2.16.840.1.101.3.4.1.22": "AES-192-CBC",
		"2.16.840.1.101.3.4.1.42": "AES-256-CBC",
		"1.2.840.113549.3.7":      "DES-EDE3-CBC",
		"1.3.14.3.2.7":            "DES-CBC",
		"1.2.840.113549.3.2":      "RC2-CBC",
	} {
		algorithmNames[oid] = name
	}
	for _, oid := range []string{
		"1.3.14.3.2.26", "1.2.840.113549.2.5", "1.2.840.113549.2.7",
		"1.2.840.113549.1.12.1.1", "1.2.840.113549.1.12.1.2", "1.2.840.113549.1.12.1.3",
		"1.2.840.113549.1.12.1.4", "1.2.840.113549.1.12.1.5", "1.2.840.113549.1.12.1.6",
		"1.2.840.113549.1.5.3", "1.2.840.113549.1.5.10",
		"1.2.840.113549.3.7", "1.3.14.3.2.7", "1.2.840.113549.3.2",
	} {
		legacyAlgorithmNames[oid] = true
	}
}

func algorithmName(oid asn1.ObjectIdentifier) string {
	if n, ok := algorithmNames[oid.String()]; ok {
		return n
	}
	return oid.String()
}

// The PKCS#12 structures, read just far enough to name the algorithms.
type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac        p12DigestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type p12DigestInfo struct {
	Algorithm algorithmIdentifier
	Digest    []byte
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type p12EncryptedData struct {
	Version              int
	EncryptedContentInfo p12EncryptedContentInfo
}

type p12EncryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm algorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue     `asn1:"tag:0,explicit"`
	Attributes []p12BagAttribute `asn1:"set,optional"`
}

type p12BagAttribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type encryptedPrivateKeyInfo struct {
	Algorithm     algorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc algorithmIdentifier
	EncryptionScheme  algorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                 `asn1:"optional"`
	PRF            algorithmIdentifier `asn1:"optional"`
}

// p12Structure is what the unencrypted layers of a PKCS#12 file show.
type p12Structure struct {
	Protection Protection
	// KeyBags counts private keys; KeyNames are their friendly names
	// (aliases), where readable without the password.
	KeyBags  int
	KeyNames []string
	// SafeItems is the number of items in the authenticated safe.
	SafeItems int
}

// readP12Structure parses the PKCS#12 layers that are not encrypted. It
// fails on anything that is not DER PKCS#12.
func readP12Structure(data []byte) (p12Structure, error) {
	var s p12Structure
	var pfx p12PFX
	rest, err := asn1.Unmarshal(data, &pfx)
	if err != nil {
		return s, err
	}
	if len(rest) > 0 {
		return s, fmt.Errorf("%d bytes after the PKCS#12 structure", len(rest))
	}
	if pfx.Version != 3 {
		return s, fmt.Errorf("PFX version %d, want 3", pfx.Version)
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return s, fmt.Errorf("content type %v (public-key integrity mode), only password integrity is supported", pfx.AuthSafe.ContentType)
	}
	p := &s.Protection
	if len(pfx.MacData.Mac.Algorithm.Algorithm) == 0 {
		p.MAC = "none"
	} else {
		alg := pfx.MacData.Mac.Algorithm.Algorithm
		if pfx.MacData.Iterations > maxKDFIterations {
			return s, fmt.Errorf("MAC iteration count %d is implausible", pfx.MacData.Iterations)
		}
		if alg.Equal(oidPBMAC1) {
			p.MAC = "PBMAC1"
		} else {
			name := algorithmName(alg)
			if strings.HasPrefix(name, "SHA") || name == "MD5" {
				name = "HMAC-" + name
			}
			p.MAC = fmt.Sprintf("%s, %d iterations", name, pfx.MacData.Iterations)
			if legacyAlgorithmNames[alg.String()] {
				p.Legacy = append(p.Legacy, strings.TrimPrefix(algorithmName(alg), "HMAC-")+" MAC")
			}
		}
	}
	var content []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &content); err != nil {
		return s, fmt.Errorf("authenticated safe: %w", err)
	}
	var safe []p12ContentInfo
	if _, err := asn1.Unmarshal(content, &safe); err != nil {
		return s, fmt.Errorf("authenticated safe: %w", err)
	}
	s.SafeItems = len(safe)
	var certAlgs, keyAlgs []string
	addAlg := func(list *[]string, name string) {
		for _, n := range *list {
			if n == name {
				return
			}
		}
		*list = append(*list, name)
	}
	for _, ci := range safe {
		switch {
		case ci.ContentType.Equal(oidEncryptedData):
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				return s, fmt.Errorf("encrypted data: %w", err)
			}
			name, legacy, err := describeEncryption(ed.EncryptedContentInfo.ContentEncryptionAlgorithm)
			if err != nil {
				return s, err
			}
			// Encrypted safes hold the certificates in every common
			// writer (OpenSSL, Java, Windows).
			addAlg(&certAlgs, name)
			for _, l := range legacy {
				addLegacy(p, l+" certificate encryption")
			}
		case ci.ContentType.Equal(oidData):
			var raw []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &raw); err != nil {
				return s, fmt.Errorf("safe contents: %w", err)
			}
			var bags []p12SafeBag
			if _, err := asn1.Unmarshal(raw, &bags); err != nil {
				return s, fmt.Errorf("safe contents: %w", err)
			}
			for _, bag := range bags {
				switch {
				case bag.ID.Equal(oidShroudedKeyBag):
					s.KeyBags++
					s.KeyNames = append(s.KeyNames, friendlyName(bag.Attributes))
					var epki encryptedPrivateKeyInfo
					if _, err := asn1.Unmarshal(bag.Value.Bytes, &epki); err != nil {
						return s, fmt.Errorf("shrouded key bag: %w", err)
					}
					name, legacy, err := describeEncryption(epki.Algorithm)
					if err != nil {
						return s, err
					}
					addAlg(&keyAlgs, name)
					for _, l := range legacy {
						addLegacy(p, l+" key encryption")
					}
				case bag.ID.Equal(oidKeyBag):
					s.KeyBags++
					s.KeyNames = append(s.KeyNames, friendlyName(bag.Attributes))
					addAlg(&keyAlgs, "none")
				case bag.ID.Equal(oidCertBagType):
					addAlg(&certAlgs, "none")
				}
			}
		default:
			return s, fmt.Errorf("authenticated safe item of type %v", ci.ContentType)
		}
	}
	p.CertEncryption = joinOr(certAlgs, "none")
	p.KeyEncryption = joinOr(keyAlgs, "none")
	return s, nil
}

func addLegacy(p *Protection, s string) {
	for _, l := range p.Legacy {
		if l == s {
			return
		}
	}
	p.Legacy = append(p.Legacy, s)
}

func joinOr(list []string, empty string) string {
	if len(list) == 0 {
		return empty
	}
	return strings.Join(list, "; ")
}

// describeEncryption names a password-based encryption algorithm and lists
// its legacy parts ("40-bit RC2", "3DES").
func describeEncryption(alg algorithmIdentifier) (name string, legacy []string, err error) {
	if alg.Algorithm.Equal(oidPBES2) {
		var params pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return "", nil, fmt.Errorf("PBES2 parameters: %w", err)
		}
		kdf := algorithmName(params.KeyDerivationFunc.Algorithm)
		if params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
			var kp pbkdf2Params
			if _, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kp); err != nil {
				return "", nil, fmt.Errorf("PBKDF2 parameters: %w", err)
			}
			if kp.IterationCount > maxKDFIterations {
				return "", nil, fmt.Errorf("PBKDF2 iteration count %d is implausible", kp.IterationCount)
			}
			prf := oidHMACWithSHA1
			if len(kp.PRF.Algorithm) > 0 {
				prf = kp.PRF.Algorithm
			}
			kdf = "PBKDF2-" + algorithmName(prf)
		}
		cipher := algorithmName(params.EncryptionScheme.Algorithm)
		switch {
		case params.EncryptionScheme.Algorithm.Equal(oidDESEDE3CBC):
			legacy = append(legacy, "3DES")
		case params.EncryptionScheme.Algorithm.Equal(oidDESCBC):
			legacy = append(legacy, "DES")
		}
		return fmt.Sprintf("PBES2 (%s, %s)", kdf, cipher), legacy, nil
	}
	name = algorithmName(alg.Algorithm)
	if hasPrefix(alg.Algorithm, oidPKCS12PBEPrefix) || hasPrefix(alg.Algorithm, oidPKCS5PBES1Prefix) {
		switch {
		case strings.Contains(name, "40BitRC2"):
			legacy = append(legacy, "40-bit RC2")
		case strings.Contains(name, "RC2"):
			legacy = append(legacy, "RC2")
		case strings.Contains(name, "RC4"):
			legacy = append(legacy, "RC4")
		case strings.Contains(name, "TripleDES"):
			legacy = append(legacy, "3DES")
		case strings.Contains(name, "DES"):
			legacy = append(legacy, "DES")
		}
	}
	return name, legacy, nil
}

func hasPrefix(oid, prefix asn1.ObjectIdentifier) bool {
	return len(oid) > len(prefix) && oid[:len(prefix)].Equal(prefix)
}

// friendlyName reads a bag's PKCS#9 friendlyName (a BMPString), "" if none.
func friendlyName(attrs []p12BagAttribute) string {
	for _, a := range attrs {
		if !a.ID.Equal(oidFriendlyName) {
			continue
		}
		var raw asn1.RawValue
		if _, err := asn1.Unmarshal(a.Value.Bytes, &raw); err != nil || raw.Tag != 30 || len(raw.Bytes)%2 != 0 {
			return ""
		}
		u := make([]uint16, len(raw.Bytes)/2)
		for i := range u {
			u[i] = uint16(raw.Bytes[2*i])<<8 | uint16(raw.Bytes[2*i+1])
		}
		return strings.TrimRight(string(utf16.Decode(u)), "\x00")
	}
	return ""
}
