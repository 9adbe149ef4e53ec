package mesh

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/pki"
)

// TLSConfig reads every keystore format through pki's one loader.
func TestTLSConfigKeystoreFormats(t *testing.T) {
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "target test"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := h.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC1", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName("X26ABC2", "X26")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyPEM, _ := pki.EncodePrivateKeyPEM(client.Key)
	otherKeyPEM, _ := pki.EncodePrivateKeyPEM(other.Key)
	jks, err := pki.EncodeJKS([]pki.Entry{
		{Alias: "root", Chain: []*x509.Certificate{h.Root.Cert}},
		{Alias: "mesh", Key: client.Key, Chain: []*x509.Certificate{client.Cert, h.SubCA.Cert}},
		{Alias: "other", Key: other.Key, Chain: []*x509.Certificate{other.Cert}},
	}, "Spine2Int")
	if err != nil {
		t.Fatal(err)
	}
	p12, err := pki.EncodePKCS12(client, h.Chain(), "Spine2Int")
	if err != nil {
		t.Fatal(err)
	}
	jksPath := write("mesh.jks", jks)
	certPath := write("client.crt", pki.EncodeCertificatesPEM(client.Cert, h.SubCA.Cert))
	tests := []struct {
		name    string
		target  Target
		wantErr string
	}{
		{"PKCS#12 named .jks", Target{Keystore: write("really-p12.jks", p12), KeystorePassword: "Spine2Int"}, ""},
		{"JKS with alias", Target{Keystore: jksPath, KeystorePassword: "Spine2Int", Alias: "mesh"}, ""},
		{"JKS without alias", Target{Keystore: jksPath, KeystorePassword: "Spine2Int"}, "several keystore entries"},
		{"JKS wrong password", Target{Keystore: jksPath, KeystorePassword: "Spine2Dep", Alias: "mesh"}, "wrong keystore password"},
		{"combined PEM as keystore", Target{Keystore: write("all.pem", append(pki.EncodeCertificatesPEM(client.Cert, h.SubCA.Cert), keyPEM...))}, ""},
		{"PEM pair", Target{CertFile: certPath, KeyFile: write("client.key", keyPEM)}, ""},
		{"PEM key of another certificate", Target{CertFile: certPath, KeyFile: write("other.key", otherKeyPEM)}, "does not belong"},
		{"key without certificate", Target{KeyFile: write("lonely.key", keyPEM)}, "needs its certificate"},
		{"both", Target{Keystore: jksPath, CertFile: certPath}, "either a keystore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.target.TLSConfig()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "Spine2") {
					t.Errorf("error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Certificates) != 1 || !cfg.Certificates[0].Leaf.Equal(client.Cert) || len(cfg.Certificates[0].Certificate) < 2 {
				t.Fatalf("client certificate not loaded with its chain")
			}
		})
	}
	if _, err := (Target{}).TLSConfig(); err != nil {
		t.Errorf("no identity: %v", err)
	}
	_, err = Target{Keystore: jksPath, KeystorePassword: "x"}.TLSConfig()
	if !errors.Is(err, pki.ErrWrongPassword) {
		t.Errorf("wrong password is not pki.ErrWrongPassword: %v", err)
	}
}
