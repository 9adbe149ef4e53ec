package main

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/pki"
)

const distinctKeystorePassword = "Zq9-keystore-SECRET-pw"

// identityWorld is a client identity in every format, on disk.
type identityWorld struct {
	dir                        string
	p12, jks, pemAll, caBundle string
	certOnly, keyOnly, foreign string
	client                     pki.KeyPair
}

func newIdentityWorld(t *testing.T) *identityWorld {
	t.Helper()
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "cmd test"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := h.IssueClient(pki.LeafOptions{CommonName: "X26ABC1.X26.api.mesh-client.nhs.uk"})
	if err != nil {
		t.Fatal(err)
	}
	w := &identityWorld{dir: t.TempDir(), client: client}
	write := func(name string, data []byte) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p12, err := pki.EncodePKCS12(client, h.Chain(), distinctKeystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	jks, err := pki.EncodeJKS([]pki.Entry{
		{Alias: "root", Chain: []*x509.Certificate{h.Root.Cert}},
		{Alias: "mesh", Key: client.Key, Chain: []*x509.Certificate{client.Cert, h.SubCA.Cert}},
	}, "Spine2Int")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodePrivateKeyPEM(client.Key)
	w.p12 = write("client.p12", p12)
	w.jks = write("mesh-int.jks", jks)
	w.pemAll = write("all.pem", append(pki.EncodeCertificatesPEM(client.Cert, h.SubCA.Cert), keyPEM...))
	w.certOnly = write("client.crt", pki.EncodeCertificatesPEM(client.Cert, h.SubCA.Cert))
	w.keyOnly = write("client.key", keyPEM)
	w.caBundle = write("ca.pem", pki.EncodeCertificatesPEM(h.Root.Cert, h.SubCA.Cert))
	w.foreign = write("readme.txt", []byte("not a keystore at all\n"))
	return w
}

func TestKeystoreInspect(t *testing.T) {
	w := newIdentityWorld(t)
	pwEnv := map[string]string{"MESH_KEYSTORE_PASSWORD": distinctKeystorePassword}
	pwFile := filepath.Join(w.dir, "pw.txt")
	if err := os.WriteFile(pwFile, []byte(distinctKeystorePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// As Windows PowerShell 5.1's Out-File writes it: UTF-16LE, a byte order
	// mark, CRLF.
	pwUTF16 := filepath.Join(w.dir, "pw-utf16.txt")
	u := []byte{0xff, 0xfe}
	for _, c := range distinctKeystorePassword + "\r\n" {
		u = append(u, byte(c), 0)
	}
	if err := os.WriteFile(pwUTF16, u, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		contains []string
	}{
		{"PKCS#12 with the password from the environment", pwEnv, []string{w.p12, "--ca-bundle", w.caBundle}, exitOK,
			[]string{"format:      PKCS#12", "password:    from MESH_KEYSTORE_PASSWORD", "HMAC-SHA-256", "PASS  keystore.load", "WARN  cert.client", "fine for a sandbox"}},
		{"password from a file", map[string]string{"MESH_KEYSTORE_PASSWORD_FILE": pwFile}, []string{w.p12}, exitOK,
			[]string{"from MESH_KEYSTORE_PASSWORD_FILE"}},
		{"password from a file PowerShell wrote", map[string]string{"MESH_KEYSTORE_PASSWORD_FILE": pwUTF16}, []string{w.p12}, exitOK,
			[]string{"PASS  keystore.load", "from MESH_KEYSTORE_PASSWORD_FILE"}},
		{"JKS with the PTL default of --env", nil, []string{w.jks, "--env", "int"}, exitOK,
			[]string{"format:      JKS", "from PTL default for int", `"mesh" (private key and certificate)  ← used`, `"root" (trusted certificate)`}},
		{"JKS with another environment's default", nil, []string{w.jks, "--env", "dep"}, exitFailed,
			[]string{"wrong keystore password", "PTL default for dep"}},
		{"wrong password", map[string]string{"MESH_KEYSTORE_PASSWORD": "nope"}, []string{w.p12}, exitFailed,
			[]string{"FAIL  keystore.load", "wrong keystore password"}},
		// An unencrypted PEM needs no password, whatever is set.
		{"PEM certificate and key", pwEnv, []string{w.certOnly, "--key", w.keyOnly}, exitOK,
			[]string{"format:      PEM", "password:    none needed (the file is not encrypted)"}},
		{"combined PEM", nil, []string{w.pemAll}, exitOK, []string{"format:      PEM", "password:    none needed"}},
		// The client's own certificate without its key is not a trust anchor.
		{"PEM certificate without its key", nil, []string{w.certOnly}, exitFailed,
			[]string{`"X26ABC1.X26.api.mesh-client.nhs.uk" (certificate without its private key)`, `(trusted certificate)`}},
		{"a directory", nil, []string{w.dir}, exitUsage, []string{w.dir + " is a directory"}},
		{"unknown alias", nil, []string{w.jks, "--env", "int", "--alias", "nope"}, exitFailed, []string{`no entry named "nope"`}},
		{"foreign file", nil, []string{w.foreign}, exitFailed, []string{"not a keystore"}},
		{"missing file", nil, []string{filepath.Join(w.dir, "missing.p12")}, exitUsage, []string{"cannot read"}},
		{"no file", nil, nil, exitUsage, []string{"one keystore file"}},
		{"bad format", nil, []string{w.p12, "--format", "xml"}, exitUsage, []string{"want text or json"}},
		{"bad env", nil, []string{w.p12, "--env", "nowhere"}, exitUsage, []string{"unknown MESH environment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, append([]string{"keystore", "inspect"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, want := range tt.contains {
				if !strings.Contains(r.stdout+r.stderr, want) {
					t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", want, r.stdout, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "X26ABC1.X26.api.mesh-client.nhs.uk\" (trusted certificate)") {
				t.Errorf("the client's certificate is called a trusted certificate:\n%s", r.stdout)
			}
			assertNoIdentitySecrets(t, r)
		})
	}
}

func TestKeystoreInspectJSON(t *testing.T) {
	w := newIdentityWorld(t)
	r := runCLI(t, nil, "keystore", "inspect", w.jks, "--env", "int", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rep keystoreReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if rep.Schema != 1 || rep.Format != "JKS" || rep.Used != "mesh" || len(rep.Entries) != 2 || len(rep.Checks) != 4 ||
		rep.PasswordFrom != "PTL default for int" || !rep.Summary.OK {
		t.Errorf("unexpected report: %+v", rep)
	}
	if rep.Entries[1].Chain[0].SHA256 == "" || rep.Entries[1].Chain[0].Key != "RSA 2048" {
		t.Errorf("entry chain not described: %+v", rep.Entries[1])
	}
	assertNoIdentitySecrets(t, r)
}

// assertNoIdentitySecrets fails if a keystore password or a private key
// shows anywhere in the output.
func assertNoIdentitySecrets(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{distinctKeystorePassword, "Spine2Int", "Spine2Dep", "PRIVATE KEY"} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output shows a secret (%q):\n%s\n%s", s, r.stdout, r.stderr)
		}
	}
}

func TestCSRNewAndCheck(t *testing.T) {
	dir := t.TempDir()
	key, csrFile := filepath.Join(dir, "client.key"), filepath.Join(dir, "client.csr")
	fqdn := "X26ABC1.X26.api.mesh-client.nhs.uk"

	r := runCLI(t, nil, "csr", "new", "--fqdn", fqdn, "--key-out", key)
	if r.code != exitOK {
		t.Fatalf("csr new: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	block, _ := pem.Decode([]byte(r.stdout))
	if block == nil || block.Type != "CERTIFICATE REQUEST" || strings.Contains(r.stdout, "PRIVATE KEY") {
		t.Fatalf("stdout is not the CSR alone:\n%s", r.stdout)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.String() != "CN="+fqdn || csr.SignatureAlgorithm != x509.SHA256WithRSA || len(csr.EmailAddresses) > 0 {
		t.Errorf("CSR subject %q, signature %s", csr.Subject, csr.SignatureAlgorithm)
	}
	// On Windows the mode means nothing: internal/secretfile's tests read
	// the owner-only ACL back.
	if st, err := os.Stat(key); err != nil || (runtime.GOOS != "windows" && st.Mode().Perm() != 0o600) {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	if !strings.Contains(r.stderr, "wrote the private key to "+key+" (") {
		t.Errorf("stderr does not say how the key is protected: %s", r.stderr)
	}
	keyBefore, _ := os.ReadFile(key)
	if k, err := pki.ParsePrivateKeyPEM(keyBefore); err != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
		t.Fatalf("the key file does not hold the CSR's key: %v", err)
	}

	// Never over an existing key without --force.
	r = runCLI(t, nil, "csr", "new", "--fqdn", fqdn, "--key-out", key, "--out", csrFile)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("overwrite without --force: exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(key); string(after) != string(keyBefore) {
		t.Fatal("the key was replaced without --force")
	}
	r = runCLI(t, nil, "csr", "new", "--fqdn", fqdn, "--key-out", key, "--out", csrFile, "--force")
	if r.code != exitOK || r.stdout != "" {
		t.Fatalf("--force: exit %d, stdout %q", r.code, r.stdout)
	}
	if after, _ := os.ReadFile(key); string(after) == string(keyBefore) {
		t.Error("--force did not replace the key")
	}
	if st, _ := os.Stat(key); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("replaced key has mode %v", st.Mode().Perm())
	}

	r = runCLI(t, nil, "csr", "check", csrFile)
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing failed") {
		t.Errorf("csr check of a new CSR: exit %d\n%s", r.code, r.stdout)
	}
	r = runCLI(t, nil, "csr", "new", "--fqdn", "localhost", "--key-out", filepath.Join(dir, "x.key"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "not a fully qualified domain name") {
		t.Errorf("csr new with a bad FQDN: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.key")); err == nil {
		t.Error("a key was written for a refused FQDN")
	}
}

func TestCSRCheck(t *testing.T) {
	w := newIdentityWorld(t)
	dir := t.TempDir()
	mk := func(name string, tmpl *x509.CertificateRequest) string {
		der, err := x509.CreateCertificateRequest(nil, tmpl, w.client.Key)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cn := "X26ABC1.X26.api.mesh-client.nhs.uk"
	email := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "me@example.nhs.uk"}
	tests := []struct {
		name     string
		file     string
		code     int
		contains string
	}{
		{"good", mk("good.csr", &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}), exitOK, "nothing failed"},
		{"email", mk("email.csr", &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, ExtraNames: []pkix.AttributeTypeAndValue{email}}}), exitFailed, "FAIL  email"},
		{"O and OU", mk("o.csr", &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"Trust"}, OrganizationalUnit: []string{"IT"}}}), exitOK, "WARN  subject"},
		{"SHA-1", mk("sha1.csr", &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, SignatureAlgorithm: x509.SHA1WithRSA}), exitFailed, "signed with SHA1-RSA"},
		{"CN not an FQDN", mk("cn.csr", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meshbox"}}), exitFailed, "not a fully qualified domain name"},
		{"not a CSR", w.certOnly, exitUsage, "no CERTIFICATE REQUEST"},
		{"missing", filepath.Join(dir, "none.csr"), exitUsage, "cannot read"},
		{"garbage", writeFile(t, dir, "garbage.txt", "hello, not a CSR\n"), exitUsage, "garbage.txt: not a CSR (PEM CERTIFICATE REQUEST or DER) (see 'meshdoctor help')\n"},
		{"a directory", dir, exitUsage, dir + " is a directory (see 'meshdoctor help')\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "csr", "check", tt.file)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.contains) {
				t.Errorf("exit %d (want %d), output lacks %q?\n%s%s", r.code, tt.code, tt.contains, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "asn1") {
				t.Errorf("ASN.1 internals shown:\n%s", r.stderr)
			}
		})
	}
	r := runCLI(t, nil, "csr", "check", "--format", "json", tests[1].file)
	var rep csrReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.OK || r.code != exitFailed {
		t.Errorf("JSON: %v, ok %v, exit %d\n%s", err, rep.OK, r.code, r.stdout)
	}
}

// `check` reads any keystore format, and --alias (or MESH_KEYSTORE_ALIAS)
// picks the entry of a keystore with several keys.
func TestCheckKeystoreAlias(t *testing.T) {
	w := newIdentityWorld(t)
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "alias test"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.IssueClient(pki.LeafOptions{CommonName: "X26ABC2.X26.api.mesh-client.nhs.uk"})
	if err != nil {
		t.Fatal(err)
	}
	jks, err := pki.EncodeJKS([]pki.Entry{
		{Alias: "one", Key: w.client.Key, Chain: []*x509.Certificate{w.client.Cert}},
		{Alias: "two", Key: other.Key, Chain: []*x509.Certificate{other.Cert}},
	}, "Spine2Int")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, "two.jks")
	if err := os.WriteFile(path, jks, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no alias", nil, nil, exitFailed, "several keystore entries"},
		{"--alias", nil, []string{"--alias", "two"}, exitOK, `using \"two\"`},
		{"MESH_KEYSTORE_ALIAS", map[string]string{"MESH_KEYSTORE_ALIAS": "one"}, nil, exitOK, `using \"one\"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--env", "int", "--keystore", path, "--only", "keystore.load", "--format", "json"}, tt.args...)
			r := runCLI(t, tt.env, args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("exit %d (want %d), stdout lacks %q:\n%s%s", r.code, tt.code, tt.want, r.stdout, r.stderr)
			}
			assertNoIdentitySecrets(t, r)
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
