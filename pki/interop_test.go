package pki

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Keystores made by the tools users have: openssl and Java's keytool. Each
// test is skipped where the tool is not installed.

const toolPassword = "Spine2Int"

func tool(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PW="+toolPassword, "MESH_KEYSTORE_PASSWORD="+toolPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func shell(t *testing.T, dir, script string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	tool(t, dir, "sh", "-c", script)
}

func TestOpenSSLKeystores(t *testing.T) {
	subj := "/CN=X26ABC1.X26.api.mesh-client.nhs.uk"
	tests := []struct {
		name   string
		make   string // shell script, in a fresh directory
		file   string
		key    string
		legacy bool
		plain  bool // the key is not encrypted: any password opens it
	}{
		{name: "PEM pair, encrypted PKCS#8 key", make: "openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -subj " + subj + " -keyout key.pem -out cert.pem -passout env:PW",
			file: "cert.pem", key: "key.pem"},
		{name: "PEM pair, legacy encrypted key", make: "openssl genrsa -traditional -aes256 -passout env:PW -out key.pem 2048 && openssl req -x509 -new -key key.pem -passin env:PW -sha256 -days 30 -subj " + subj + " -out cert.pem",
			file: "cert.pem", key: "key.pem"},
		{name: "combined PEM, plain key", make: "openssl req -x509 -newkey rsa:2048 -noenc -sha256 -days 30 -subj " + subj + " -keyout key.pem -out cert.pem && cat cert.pem key.pem > all.pem",
			file: "all.pem", plain: true},
		{name: "PKCS#12, OpenSSL 3 defaults", make: "openssl req -x509 -newkey rsa:2048 -noenc -sha256 -days 30 -subj " + subj + " -keyout key.pem -out cert.pem && openssl pkcs12 -export -in cert.pem -inkey key.pem -out ks.p12 -passout env:PW",
			file: "ks.p12"},
		{name: "PKCS#12, -legacy", make: "openssl req -x509 -newkey rsa:2048 -noenc -sha256 -days 30 -subj " + subj + " -keyout key.pem -out cert.pem && openssl pkcs12 -export -legacy -in cert.pem -inkey key.pem -out ks.p12 -passout env:PW",
			file: "ks.p12", legacy: true},
		{name: "PKCS#12, the re-export command of the fix", make: "openssl req -x509 -newkey rsa:2048 -noenc -sha256 -days 30 -subj " + subj + " -keyout key.pem -out cert.pem && openssl pkcs12 -export -legacy -in cert.pem -inkey key.pem -out FILE -passout env:PW && " +
			strings.SplitN(p12ReexportFix, ": ", 2)[1],
			file: "FILE-new.p12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			shell(t, dir, tt.make)
			key := ""
			if tt.key != "" {
				key = filepath.Join(dir, tt.key)
			}
			st, err := LoadStore(filepath.Join(dir, tt.file), key, toolPassword)
			if err != nil {
				t.Fatalf("LoadStore: %v", err)
			}
			e, err := st.Pick("")
			if err != nil || !e.KeyMatches() {
				t.Fatalf("Pick: %v (key matches: %v)", err, e.KeyMatches())
			}
			if (len(st.Protection.Legacy) > 0) != tt.legacy {
				t.Errorf("legacy algorithms %v, want legacy %v (%+v)", st.Protection.Legacy, tt.legacy, st.Protection)
			}
			if _, err := LoadStore(filepath.Join(dir, tt.file), key, "wrong"); !tt.plain && !errors.Is(err, ErrWrongPassword) {
				t.Errorf("wrong password: %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestKeytoolKeystores(t *testing.T) {
	gen := func(store, alias, storetype string) []string {
		return []string{"-genkeypair", "-keystore", store, "-storetype", storetype, "-alias", alias,
			"-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA", "-validity", "30",
			"-dname", "CN=" + alias + ".X26.api.mesh-client.nhs.uk", "-storepass:env", "PW", "-keypass:env", "PW",
			"-ext", "EKU=clientAuth"}
	}
	t.Run("JKS", func(t *testing.T) {
		dir := t.TempDir()
		tool(t, dir, "keytool", gen("ks.jks", "x26abc1", "JKS")...)
		st, err := LoadStore(filepath.Join(dir, "ks.jks"), "", toolPassword)
		if err != nil {
			t.Fatal(err)
		}
		if st.Format != FormatJKS {
			t.Errorf("format %s", st.Format)
		}
		if e, err := st.Pick(""); err != nil || e.Alias != "x26abc1" || !e.ClientAuth() {
			t.Errorf("Pick: %v %q", err, e.Alias)
		}
		if _, err := LoadStore(filepath.Join(dir, "ks.jks"), "", "Spine2Dep"); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("wrong password: %v", err)
		}
	})
	t.Run("JKS with two keys", func(t *testing.T) {
		dir := t.TempDir()
		tool(t, dir, "keytool", gen("ks.jks", "one", "JKS")...)
		tool(t, dir, "keytool", gen("ks.jks", "two", "JKS")...)
		st, err := LoadStore(filepath.Join(dir, "ks.jks"), "", toolPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pick(""); !errors.Is(err, ErrAmbiguous) {
			t.Errorf("no alias: %v, want ErrAmbiguous", err)
		}
		if e, err := st.Pick("two"); err != nil || e.Alias != "two" {
			t.Errorf("alias two: %v", err)
		}
	})
	t.Run("PKCS#12", func(t *testing.T) {
		dir := t.TempDir()
		tool(t, dir, "keytool", gen("ks.p12", "x26abc1", "PKCS12")...)
		st, err := LoadStore(filepath.Join(dir, "ks.p12"), "", toolPassword)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := st.Pick(""); err != nil || e.Alias != "x26abc1" {
			t.Errorf("Pick: %v %q", err, e.Alias)
		}
		t.Logf("keytool PKCS#12 protection: %+v", st.Protection)
	})
	t.Run("PKCS#12 with two keys", func(t *testing.T) {
		dir := t.TempDir()
		tool(t, dir, "keytool", gen("ks.p12", "one", "PKCS12")...)
		tool(t, dir, "keytool", gen("ks.p12", "two", "PKCS12")...)
		_, err := LoadStore(filepath.Join(dir, "ks.p12"), "", toolPassword)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(Remedy(err), "keytool -importkeystore") {
			t.Errorf("two keys: %v (fix %q)", err, Remedy(err))
		}
	})
}

// CSRs made by openssl and keytool are read and judged like ours.
func TestToolCSRs(t *testing.T) {
	cn := "X26ABC1.X26.api.mesh-client.nhs.uk"
	tests := []struct {
		name, tool, script string
		failRule           string // "" when nothing should fail
	}{
		{"openssl, CN only", "openssl", "openssl req -new -newkey rsa:2048 -noenc -keyout k.pem -subj /CN=" + cn + " -out r.csr", ""},
		{"openssl, with email", "openssl", "openssl req -new -newkey rsa:2048 -noenc -keyout k.pem -subj /CN=" + cn + "/emailAddress=me@example.nhs.uk -out r.csr", "email"},
		{"openssl, SHA-1", "openssl", "openssl req -new -newkey rsa:2048 -noenc -sha1 -keyout k.pem -subj /CN=" + cn + " -out r.csr", "signature"},
		{"keytool", "keytool", "keytool -genkeypair -keystore ks.p12 -storetype PKCS12 -alias a -keyalg RSA -keysize 2048 -dname CN=" + cn +
			" -storepass:env PW && keytool -certreq -keystore ks.p12 -alias a -storepass:env PW -file r.csr", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.tool); err != nil {
				t.Skipf("%s is not installed", tt.tool)
			}
			dir := t.TempDir()
			tool(t, dir, "sh", "-c", tt.script)
			data, err := os.ReadFile(filepath.Join(dir, "r.csr"))
			if err != nil {
				t.Fatal(err)
			}
			csr, err := ParseCSR(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range CheckCSR(csr) {
				if f.Severity == SeverityFail && f.Rule != tt.failRule {
					t.Errorf("%s failed: %s", f.Rule, f.Summary)
				}
				if f.Rule == tt.failRule && f.Severity != SeverityFail {
					t.Errorf("%s: %s, want fail", f.Rule, f.Severity)
				}
			}
		})
	}
}
