package mesh

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/pki"
)

// Target.TLSConfig accepts what NHS's clients accept: a server certificate
// that names its host only in the CN (HSCN endpoints, NHS's mesh-sandbox),
// and still refuses one for another host or from an untrusted CA.
func TestTLSConfigVerifiesLikeNHSClients(t *testing.T) {
	h, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "target tls test"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pki.EncodeCertificatesPEM(h.Root.Cert, h.SubCA.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.Hierarchy, opts pki.LeafOptions) tls.Certificate {
		kp, err := ca.IssueServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		return kp.TLSCertificate(ca.SubCA.Cert)
	}
	tests := []struct {
		name, host string
		cert       tls.Certificate
		wantErr    string
	}{
		{"CN only", "localhost", issue(h, pki.LeafOptions{CommonName: "localhost"}), ""},
		{"IP SAN", "127.0.0.1", issue(h, pki.LeafOptions{CommonName: "x", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}), ""},
		{"CN for another host", "localhost", issue(h, pki.LeafOptions{CommonName: "mesh.example"}), "not valid"},
		{"SAN for another host, CN right", "localhost", issue(h, pki.LeafOptions{CommonName: "localhost", DNSNames: []string{"mesh.example"}}), "mesh.example"},
		{"untrusted CA", "localhost", issue(other, pki.LeafOptions{CommonName: "localhost"}), "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.cert}}
			srv.StartTLS()
			defer srv.Close()
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			target := Target{URL: "https://" + net.JoinHostPort(tt.host, port), CABundle: ca}
			cfg, err := target.TLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(target.URL)
			if resp != nil {
				resp.Body.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}
