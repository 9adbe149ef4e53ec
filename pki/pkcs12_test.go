package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

const testPassword = "correct horse"

func TestPKCS12RoundTrip(t *testing.T) {
	f := testFixture(t)
	tests := []struct {
		name   string
		encode func(KeyPair, []*x509.Certificate, string) ([]byte, error)
		chain  []*x509.Certificate
	}{
		{"modern", EncodePKCS12, f.h.Chain()},
		{"legacy", EncodePKCS12Legacy, f.h.Chain()},
		{"modern no chain", EncodePKCS12, nil},
		{"legacy sub-CA only", EncodePKCS12Legacy, []*x509.Certificate{f.h.SubCA.Cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.encode(f.client, tt.chain, testPassword)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			ks, err := DecodePKCS12(data, testPassword)
			if err != nil {
				t.Fatalf("DecodePKCS12: %v", err)
			}
			if !ks.Leaf.Equal(f.client.Cert) {
				t.Errorf("Leaf is %q, want the client certificate", ks.Leaf.Subject.CommonName)
			}
			if !ks.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(f.client.Key.Public()) {
				t.Error("decoded key differs")
			}
			if len(ks.Chain) != len(tt.chain) {
				t.Fatalf("Chain has %d certificates, want %d", len(ks.Chain), len(tt.chain))
			}
			for i := range ks.Chain {
				if !ks.Chain[i].Equal(tt.chain[i]) {
					t.Errorf("Chain[%d] = %q, want %q", i, ks.Chain[i].Subject.CommonName, tt.chain[i].Subject.CommonName)
				}
			}
			tc := ks.TLSCertificate()
			if tc.Leaf == nil || !tc.Leaf.Equal(f.client.Cert) || len(tc.Certificate) != 1+len(tt.chain) || tc.PrivateKey == nil {
				t.Error("TLSCertificate is incomplete")
			}

			_, err = DecodePKCS12(data, "wrong")
			if !errors.Is(err, ErrWrongPassword) {
				t.Errorf("wrong password: error %v is not ErrWrongPassword", err)
			}
		})
	}
}

// A file written with the CA certificate before the leaf still yields the
// certificate matching the key as Leaf.
func TestDecodePKCS12LeafNotFirst(t *testing.T) {
	f := testFixture(t)
	data, err := pkcs12.Modern2023.Encode(f.client.Key, f.h.SubCA.Cert, []*x509.Certificate{f.client.Cert, f.h.Root.Cert}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := DecodePKCS12(data, testPassword)
	if err != nil {
		t.Fatalf("DecodePKCS12: %v", err)
	}
	if !ks.Leaf.Equal(f.client.Cert) {
		t.Errorf("Leaf is %q, want the client certificate", ks.Leaf.Subject.CommonName)
	}
	if len(ks.Chain) != 2 || !ks.Chain[0].Equal(f.h.SubCA.Cert) || !ks.Chain[1].Equal(f.h.Root.Cert) {
		t.Error("Chain is not [sub-CA, root]")
	}
}

func TestPKCS12Errors(t *testing.T) {
	f := testFixture(t)
	trustStore, err := pkcs12.Modern2023.EncodeTrustStore([]*x509.Certificate{f.h.Root.Cert}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		is   error // nil: any error
	}{
		{"garbage", func() error { _, err := DecodePKCS12([]byte("garbage"), testPassword); return err }, nil},
		{"trust store has no key", func() error { _, err := DecodePKCS12(trustStore, testPassword); return err }, ErrNoPrivateKey},
		{"encode without key", func() error { _, err := EncodePKCS12(KeyPair{Cert: f.client.Cert}, nil, testPassword); return err }, ErrNoPrivateKey},
		{"encode without cert", func() error { _, err := EncodePKCS12Legacy(KeyPair{Key: f.client.Key}, nil, testPassword); return err }, ErrNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// The decoded keystore works as a client certificate in a mutual-TLS
// handshake against a server using the hierarchy's server certificate.
func TestPKCS12MutualTLS(t *testing.T) {
	f := testFixture(t)
	data, err := EncodePKCS12(f.client, []*x509.Certificate{f.h.SubCA.Cert}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := DecodePKCS12(data, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(f.h.Root.Cert)

	cConn, sConn := net.Pipe()
	defer cConn.Close()
	defer sConn.Close()
	server := tls.Server(sConn, &tls.Config{
		Certificates: []tls.Certificate{f.server.TLSCertificate(f.h.SubCA.Cert)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS12,
	})
	client := tls.Client(cConn, &tls.Config{
		Certificates: []tls.Certificate{ks.TLSCertificate()},
		RootCAs:      roots,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS12,
	})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peers := server.ConnectionState().PeerCertificates
	if len(peers) == 0 || peers[0].Subject.CommonName != "X26ABC1.X26.api.mesh-client.nhs.uk" {
		t.Errorf("server saw client certificate %v", peers)
	}
}
