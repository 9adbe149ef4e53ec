package checks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// Secrets that must never show in any verdict.
const (
	testKeystorePassword = "s3cret-Keystore-Pw!"
	ptlIntPassword       = "Spine2Int"
)

// nhsLike is a world of NHS-like CAs: an INT hierarchy and a DEP one, known
// to the run by fingerprint as the real Spine CAs are.
type nhsLike struct {
	int, dep *pki.Hierarchy
	table    []pki.SpineCA
	dir      string
}

func newNHSLike(t *testing.T) *nhsLike {
	t.Helper()
	w := &nhsLike{dir: t.TempDir()}
	var err error
	if w.int, err = pki.NewHierarchy(pki.HierarchyOptions{Name: "NHS TEST INT", NotBefore: time.Now().AddDate(-2, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if w.dep, err = pki.NewHierarchy(pki.HierarchyOptions{Name: "NHS TEST DEP", NotBefore: time.Now().AddDate(-2, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	add := func(kp pki.KeyPair, issuer string, envs ...string) {
		w.table = append(w.table, pki.SpineCA{CommonName: kp.Cert.Subject.CommonName, Issuer: issuer, Environments: envs,
			Generation: "G2", NotAfter: kp.Cert.NotAfter, SHA256: pki.Fingerprint(kp.Cert)})
	}
	add(w.int.Root, w.int.Root.Cert.Subject.CommonName, "int")
	add(w.int.SubCA, w.int.Root.Cert.Subject.CommonName, "int")
	add(w.dep.Root, w.dep.Root.Cert.Subject.CommonName, "dep")
	add(w.dep.SubCA, w.dep.Root.Cert.Subject.CommonName, "dep")
	return w
}

func (w *nhsLike) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *nhsLike) p12(t *testing.T, name string, kp pki.KeyPair, chain ...*x509.Certificate) string {
	t.Helper()
	data, err := pki.EncodePKCS12(kp, chain, testKeystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	return w.write(t, name, data)
}

// judge runs one check against target with the NHS-like table.
func (w *nhsLike) judge(t *testing.T, c Check, target mesh.Target, sources map[string]string) Verdict {
	t.Helper()
	f := NewFacts(target, Options{Sources: sources})
	ctx := context.Background()
	Observe(ctx, f, spineCAsKey, func(context.Context) []pki.SpineCA { return w.table })
	v := c.Run(ctx, f)
	out, _ := json.Marshal(v.Evidence)
	all := v.Summary + " " + v.Remediation + " " + string(out)
	for _, secret := range []string{testKeystorePassword, ptlIntPassword} {
		if strings.Contains(all, secret) {
			t.Errorf("%s shows a password: %s", c.ID, all)
		}
	}
	return v
}

// leaf makes a client certificate by hand, for what pki refuses to make.
func leaf(t *testing.T, issuer pki.KeyPair, key *rsa.PrivateKey, cn string) pki.KeyPair {
	t.Helper()
	if key == nil {
		key = must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 2048))
	}
	if cn == "" {
		cn = goodCN
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	parent, signer := issuer.Cert, issuer.Key
	if parent == nil { // self-signed
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return pki.KeyPair{Cert: c, Key: key}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

const goodCN = "X26ABC1.X26.api.mesh-client.nhs.uk"

func TestIdentityChecks(t *testing.T) {
	w := newNHSLike(t)
	kp := must[pki.KeyPair](t)
	good := kp(w.int.IssueClient(pki.LeafOptions{CommonName: goodCN}))
	intBundle := w.write(t, "int-ca.pem", pki.EncodeCertificatesPEM(w.int.Root.Cert, w.int.SubCA.Cert))
	depBundle := w.write(t, "dep-ca.pem", pki.EncodeCertificatesPEM(w.dep.Root.Cert, w.dep.SubCA.Cert))
	chain := w.int.Chain()
	private, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	sandboxClient := kp(private.IssueClient(pki.LeafOptions{CommonName: goodCN}))
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the weak key is the fixture
	if err != nil {
		t.Fatal(err)
	}
	legacyP12, err := pki.EncodePKCS12Legacy(good, chain, testKeystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	modernP12, err := pki.EncodePKCS12(good, chain, testKeystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	jks, err := pki.EncodeJKS([]pki.Entry{
		{Alias: "ptl root", Chain: []*x509.Certificate{w.int.Root.Cert}},
		{Alias: "ptl sub-ca", Chain: []*x509.Certificate{w.int.SubCA.Cert}},
		{Alias: "mesh", Key: good.Key, Chain: []*x509.Certificate{good.Cert}},
	}, ptlIntPassword)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := must[[]byte](t)(pki.EncodePrivateKeyPEM(good.Key))
	otherKeyPEM := must[[]byte](t)(pki.EncodePrivateKeyPEM(sandboxClient.Key))
	ber := append([]byte{0x30, 0x80}, modernP12[4:]...) // the outer length is 0x30 0x82 hi lo
	ber = append(ber, 0, 0)

	intTarget := func(ks string) mesh.Target {
		return mesh.Target{Environment: mesh.Integration, Keystore: ks, KeystorePassword: testKeystorePassword, CABundle: intBundle}
	}
	fromEnv := map[string]string{"keystore_password": "MESH_KEYSTORE_PASSWORD"}
	tests := []struct {
		name    string
		check   Check
		target  mesh.Target
		sources map[string]string
		status  Status
		want    string // in the summary
		fix     string // in the remediation
		evKey   string // an evidence fact...
		evValue string // ...and its value
	}{
		// keystore.load
		{name: "nothing configured, NHS environment", check: keystoreLoad, target: mesh.Target{Environment: mesh.Integration},
			status: Fail, want: "requires one (mutual TLS)", fix: "--keystore"},
		{name: "nothing configured, a test host", check: keystoreLoad, target: mesh.Target{URL: "https://mesh-test.example.org"},
			status: Skip, want: "no client keystore", fix: "--keystore"},
		{name: "good PKCS#12", check: keystoreLoad, target: intTarget(w.p12(t, "good.p12", good, chain...)), sources: fromEnv,
			status: Pass, want: "PKCS#12, 1 entry", evKey: "password from", evValue: "MESH_KEYSTORE_PASSWORD"},
		{name: "JKS with the PTL default password", check: keystoreLoad,
			target: mesh.Target{Environment: mesh.Integration, Keystore: w.write(t, "ptl.jks", jks)},
			status: Pass, want: `JKS, 3 entries; using "mesh"`, evKey: "password from", evValue: "PTL default for int"},
		{name: "wrong password", check: keystoreLoad,
			target: mesh.Target{Environment: mesh.Integration, Keystore: w.p12(t, "own.p12", good, chain...)},
			status: Fail, want: "wrong keystore password", fix: "MESH_KEYSTORE_PASSWORD", evKey: "password from", evValue: "PTL default for int"},
		{name: "truncated", check: keystoreLoad, target: intTarget(w.write(t, "cut.p12", modernP12[:len(modernP12)/3])),
			status: Fail, want: "truncated", fix: "again"},
		{name: "BER PKCS#12", check: keystoreLoad, target: intTarget(w.write(t, "windows.pfx", ber)),
			status: Fail, want: "BER", fix: "openssl pkcs12 -legacy -in"},
		{name: "foreign file", check: keystoreLoad, target: intTarget(w.write(t, "notes.txt", []byte("my keystore password is in the safe\n"))),
			status: Fail, want: "not a keystore", fix: "PKCS#12"},
		{name: "missing file", check: keystoreLoad, target: intTarget(filepath.Join(w.dir, "nope.p12")),
			status: Error, want: "cannot read"},
		{name: "key without its certificate", check: keystoreLoad, target: mesh.Target{KeyFile: w.write(t, "lone.key", keyPEM)},
			status: Fail, want: "a client key (--key) was given without its certificate (--cert)", fix: "--cert FILE"},
		{name: "a directory as the keystore", check: keystoreLoad, target: intTarget(w.dir),
			status: Error, want: "the keystore " + w.dir + " is a directory", fix: "file itself"},
		{name: "unencrypted PEM needs no password", check: keystoreLoad, sources: fromEnv,
			target: mesh.Target{CertFile: w.write(t, "u.pem", pki.EncodeCertificatesPEM(good.Cert)), KeyFile: w.write(t, "u.key", keyPEM), KeystorePassword: testKeystorePassword},
			status: Pass, want: "PEM, 1 entry", evKey: "password from", evValue: "none needed (the file is not encrypted)"},
		{name: "PEM pair", check: keystoreLoad, target: mesh.Target{CertFile: w.write(t, "c.pem", pki.EncodeCertificatesPEM(good.Cert)), KeyFile: w.write(t, "c.key", keyPEM)},
			status: Pass, want: "PEM, 1 entry"},

		// keystore.sha2
		{name: "SHA-2 keystore", check: keystoreSHA2, target: intTarget(w.p12(t, "sha2.p12", good, chain...)),
			status: Pass, want: "SHA-2 keystore: 3 certificates"},
		{name: "SHA-1 chain", check: keystoreSHA2,
			target: intTarget(w.p12(t, "sha1.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: goodCN, SignatureAlgorithm: x509.SHA1WithRSA})), chain...)),
			status: Fail, want: "not a SHA-2 keystore: 1 certificate is signed with a broken hash: \"" + goodCN, fix: "SHA-256"},
		{name: "legacy PKCS#12", check: keystoreSHA2, target: intTarget(w.write(t, "legacy.p12", legacyP12)),
			status: Warn, want: "legacy algorithms: SHA-1 MAC", fix: "openssl pkcs12 -export"},
		{name: "JKS is not warned about", check: keystoreSHA2,
			target: mesh.Target{Environment: mesh.Integration, Keystore: w.write(t, "ptl2.jks", jks)}, status: Pass, want: "SHA-2 keystore"},

		// cert.client
		{name: "good certificate", check: certClient, target: intTarget(w.p12(t, "ok.p12", good, chain...)),
			status: Pass, want: "chains to NHS's NHS TEST INT Authentication G2"},
		{name: "expired", check: certClient,
			target: intTarget(w.p12(t, "expired.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: goodCN, NotAfter: time.Now().AddDate(0, 0, -3)})), chain...)),
			status: Fail, want: "expired on", fix: "csr new"},
		{name: "not yet valid", check: certClient,
			target: intTarget(w.p12(t, "future.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: goodCN, NotBefore: time.Now().AddDate(0, 0, 3)})), chain...)),
			status: Fail, want: "not valid until", fix: "clock"},
		{name: "expires soon", check: certClient,
			target: intTarget(w.p12(t, "soon.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: goodCN, NotAfter: time.Now().AddDate(0, 0, 10)})), chain...)),
			status: Warn, want: "expires in 9 days", fix: "Renew"},
		{name: "key does not match", check: certClient,
			target: mesh.Target{Environment: mesh.Integration, CABundle: intBundle, CertFile: w.write(t, "m.pem", pki.EncodeCertificatesPEM(good.Cert)), KeyFile: w.write(t, "m.key", otherKeyPEM)},
			status: Fail, want: "private key does not belong", fix: "CSR"},
		{name: "server-auth-only EKU", check: certClient,
			target: intTarget(w.p12(t, "server.p12", kp(w.int.IssueServer(pki.LeafOptions{CommonName: goodCN})), chain...)),
			status: Fail, want: "does not allow client authentication (extended key usage: serverAuth)", fix: "clientAuth"},
		{name: "RSA 1024", check: certClient, target: intTarget(w.p12(t, "weak.p12", leaf(t, w.int.SubCA, weakKey, goodCN), chain...)),
			status: Fail, want: "RSA key of 1024 bits", fix: "RSA 2048"},
		{name: "CN not an FQDN", check: certClient, target: intTarget(w.p12(t, "cn.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: "meshclient"})), chain...)),
			status: Warn, want: "not a fully qualified domain name"},
		{name: "CN off the naming convention", check: certClient, target: intTarget(w.p12(t, "cn2.p12", kp(w.int.IssueClient(pki.LeafOptions{CommonName: "mesh.example.nhs.uk"})), chain...)),
			status: Warn, want: "naming convention"},
		{name: "a DEP certificate aimed at INT", check: certClient,
			target: mesh.Target{Environment: mesh.Integration, Keystore: w.p12(t, "dep.p12", kp(w.dep.IssueClient(pki.LeafOptions{CommonName: goodCN})), w.dep.Chain()...),
				KeystorePassword: testKeystorePassword, CABundle: depBundle},
			status: Fail, want: "a DEP certificate aimed at INT", fix: "--env dep"},
		{name: "private PKI with the sandbox", check: certClient,
			target: mesh.Target{URL: "https://127.0.0.1:8700", Keystore: w.p12(t, "sbx.p12", sandboxClient, private.Chain()...), KeystorePassword: testKeystorePassword},
			status: Warn, want: "fine for a sandbox; the NHS environments will refuse it"},
		{name: "private PKI aimed at INT", check: certClient,
			target: mesh.Target{Environment: mesh.Integration, Keystore: w.p12(t, "sbx2.p12", sandboxClient, private.Chain()...), KeystorePassword: testKeystorePassword},
			status: Warn, want: "fine for a sandbox; Integration will refuse it"},
		{name: "self-signed", check: certClient, target: intTarget(w.p12(t, "self.p12", leaf(t, pki.KeyPair{Cert: nil}, nil, ""))),
			status: Warn, want: "self-signed, not issued by NHS: fine for a sandbox; Integration will refuse it"},
		{name: "does not verify", check: certClient,
			target: intTarget(w.p12(t, "lonely.p12", kp(w.dep.IssueClient(pki.LeafOptions{CommonName: goodCN})))),
			status: Fail, want: "does not chain to any CA given", fix: "unknown_ca"},
		{name: "several findings", check: certClient,
			target: intTarget(w.p12(t, "bad.p12", kp(w.int.IssueServer(pki.LeafOptions{CommonName: "meshclient", NotAfter: time.Now().AddDate(0, 0, -1)})), chain...)),
			status: Fail, want: "(and 2 more findings)", evKey: "finding 3", evValue: "warn: the certificate's CN \"meshclient\" is not a fully qualified domain name"},

		// cert.trust
		{name: "bundle of the environment", check: certTrust, target: intTarget(""),
			status: Pass, want: "holds Integration's root and SubCA"},
		{name: "bundle of another environment", check: certTrust, target: mesh.Target{Environment: mesh.Integration, CABundle: depBundle},
			status: Fail, want: `lacks the root "NHS TEST INT Root Authority G2" and the SubCA "NHS TEST INT Authentication G2" of Integration (it holds NHS CAs of dep)`, fix: "--ca-bundle"},
		{name: "no bundle, NHS environment", check: certTrust, target: mesh.Target{Environment: mesh.Integration},
			status: Fail, want: "no CA bundle", fix: "Integration root and SubCA"},
		{name: "no bundle, a test host", check: certTrust, target: mesh.Target{URL: "https://mesh-test.example.org"},
			status: Skip, want: "no CA bundle", fix: "root and SubCA"},
		{name: "the JKS as truststore", check: certTrust, target: mesh.Target{Environment: mesh.Integration, Keystore: w.write(t, "ptl3.jks", jks)},
			status: Pass, want: "the keystore holds Integration's root and SubCA", evKey: "source", evValue: "the keystore's CA certificates"},
		// Without --env there is nothing to hold the CAs to: no pass for a
		// keystore's own CAs, only expiry for a bundle, said so.
		{name: "sandbox keystore without --env or --ca-bundle", check: certTrust,
			target: mesh.Target{URL: "https://127.0.0.1:8700", Keystore: w.p12(t, "sbx3.p12", sandboxClient, private.Chain()...), KeystorePassword: testKeystorePassword},
			status: Skip, want: "nothing to judge the keystore's 2 CA certificates (0 of NHS) against", fix: "--env"},
		{name: "bundle without --env", check: certTrust, target: mesh.Target{URL: "https://127.0.0.1:8700", CABundle: intBundle},
			status: Pass, want: "holds 2 CA certificates (2 of NHS), none expired; which CAs it should hold was not judged", fix: "--env"},
		{name: "a keystore of another environment as truststore", check: certTrust,
			target: mesh.Target{Environment: mesh.Deployment, Keystore: w.write(t, "ptl4.jks", jks), KeystorePassword: ptlIntPassword},
			status: Warn, want: "the keystore lacks", fix: "--ca-bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := w.judge(t, tt.check, tt.target, tt.sources)
			if v.Status != tt.status || !strings.Contains(v.Summary, tt.want) || strings.HasPrefix(v.Summary, ".") {
				t.Errorf("%s: %s %q\nwant %s containing %q\nfix: %s\nevidence: %v", tt.check.ID, v.Status, v.Summary, tt.status, tt.want, v.Remediation, v.Evidence)
			}
			if !strings.Contains(v.Remediation, tt.fix) {
				t.Errorf("remediation %q does not say %q", v.Remediation, tt.fix)
			}
			if (v.Status == Fail || v.Status == Warn) && v.Remediation == "" {
				t.Errorf("a %s without a remediation", v.Status)
			}
			if tt.evKey != "" {
				if got, _ := v.Evidence.Get(tt.evKey); !strings.Contains(got, tt.evValue) {
					t.Errorf("evidence %s = %q, want %q", tt.evKey, got, tt.evValue)
				}
			}
		})
	}
}

// An expired CA in the bundle is named, the way the legacy live root
// (expired 2024-06-04) would be.
func TestCertTrustExpiredCA(t *testing.T) {
	w := newNHSLike(t)
	old, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Old", NotBefore: time.Now().AddDate(-3, 0, 0), Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	bundle := w.write(t, "ca.pem", pki.EncodeCertificatesPEM(w.int.Root.Cert, w.int.SubCA.Cert, old.Root.Cert))
	v := w.judge(t, certTrust, mesh.Target{Environment: mesh.Integration, CABundle: bundle}, nil)
	if v.Status != Warn || !strings.Contains(v.Summary, `"Old Root Authority G2" (expired`) {
		t.Errorf("%s %q", v.Status, v.Summary)
	}
}

// The identity checks are in the catalogue, offline, and judge before TLS.
func TestIdentityChecksCatalogued(t *testing.T) {
	if err := validateCatalogue(catalogue()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"keystore.load", "keystore.sha2", "cert.client", "cert.trust"} {
		c, ok := Lookup(id)
		if !ok || !c.Offline {
			t.Errorf("%s: catalogued %v, offline %v", id, ok, c.Offline)
		}
	}
}

// A client certificate refused with unknown_ca names the identity finding
// as its first cause: here a sandbox certificate aimed at Integration.
func TestRefusedCertificateNamesIdentityFinding(t *testing.T) {
	_, target := sandboxTarget(t, sandbox.Config{Faults: []sandbox.Fault{sandbox.FaultUnknownClientCA}})
	target.Environment = mesh.Integration
	res := runAt(t, target, Options{}, "cert.client", "tls.client-auth")
	expect(t, res, "cert.client", Warn, "Integration will refuse it")
	expect(t, res, "tls.client-auth", Fail, "unknown_ca", "first cause", "cert.client", "Integration will refuse it")
	if got, _ := res["tls.client-auth"].Evidence.Get("first cause"); got != "cert.client" {
		t.Errorf("first cause %q, want cert.client", got)
	}
}

// A keystore that does not open (a wrong password) leaves the handshake
// without a certificate: tls.client-auth names keystore.load as the first
// cause and never tells the user to pass the --keystore they passed.
func TestClientAuthNamesUnloadedIdentity(t *testing.T) {
	_, target := sandboxTarget(t, sandbox.Config{})
	target.KeystorePassword = "not-the-password-4711"
	for _, only := range [][]string{{"keystore.load", "tls.client-auth"}, {"tls.client-auth"}} {
		res := runAt(t, target, Options{}, only...)
		r := res["tls.client-auth"]
		if len(only) == 2 {
			expect(t, res, "keystore.load", Fail, "wrong keystore password")
			expect(t, res, "tls.client-auth", Fail, "we sent none", "first cause", "wrong keystore password", "keystore.load")
			if got, _ := r.Evidence.Get("first cause"); got != "keystore.load" {
				t.Errorf("first cause %q, want keystore.load", got)
			}
		} else {
			expect(t, res, "tls.client-auth", Fail, "could not be loaded", "keystore inspect")
		}
		if strings.Contains(r.Remediation, "Pass --keystore") || strings.Contains(r.Summary, "none is configured") {
			t.Errorf("tells the user to pass the keystore they passed: %q / %q", r.Summary, r.Remediation)
		}
		if strings.Contains(r.Summary+r.Remediation+fmt.Sprint(r.Evidence), target.KeystorePassword) {
			t.Error("the keystore password was shown")
		}
	}
}
