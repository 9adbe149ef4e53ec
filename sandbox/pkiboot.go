package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/secretfile"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// KeystorePassword protects the client.p12 the sandbox writes. Like the
// path-to-live keystore passwords it is a published, well-known value: the
// sandbox holds no real secrets.
const KeystorePassword = "meshdoctor"

// Files are what a client needs to talk to the sandbox, written to PKIDir.
type Files struct {
	CABundle       string // ca.pem: root and sub-CA
	ClientCert     string // client.pem: client certificate then sub-CA
	ClientKey      string // client-key.pem
	ClientKeystore string // client.p12, password KeystorePassword
	Profile        string // profile.json: a meshdoctor profile for the sandbox
}

// identity is the sandbox's PKI: its CAs, the server's certificate and a
// client certificate for the first mailbox.
type identity struct {
	ca     *pki.Hierarchy
	server pki.KeyPair
	client pki.KeyPair
}

const (
	fileCA         = "ca.pem"
	fileClient     = "client.pem"
	fileClientKey  = "client-key.pem"
	fileClientP12  = "client.p12"
	fileProfile    = "profile.json"
	fileServer     = "server.pem"
	dirPrivate     = "private"
	fileRootKey    = "root-key.pem"
	fileSubCAKey   = "subca-key.pem"
	fileServerKey  = "server-key.pem"
	fileRootCert   = "root.pem"
	fileSubCACert  = "subca.pem"
	serverLifetime = 365 * 24 * time.Hour
)

// newIdentity makes a fresh sandbox PKI in memory.
func newIdentity(clientMailbox, clientODS string) (*identity, error) {
	ca, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "MESH Sandbox"})
	if err != nil {
		return nil, err
	}
	id := &identity{ca: ca}
	if id.server, err = issueServer(ca, time.Time{}, time.Time{}, 0); err != nil {
		return nil, err
	}
	if id.client, err = ca.IssueClient(pki.LeafOptions{CommonName: pki.ClientCommonName(clientMailbox, clientODS)}); err != nil {
		return nil, err
	}
	return id, nil
}

func issueServer(ca *pki.Hierarchy, notBefore, notAfter time.Time, alg x509.SignatureAlgorithm) (pki.KeyPair, error) {
	return ca.IssueServer(pki.LeafOptions{
		CommonName:         "localhost",
		DNSNames:           []string{"localhost"},
		IPs:                []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: alg,
	})
}

// loadOrCreateIdentity reuses the PKI in dir when it is there and still
// valid, so that clients configured once keep working across restarts.
func loadOrCreateIdentity(dir, clientMailbox, clientODS string) (*identity, error) {
	id, err := loadIdentity(dir)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reuse sandbox PKI in %s: %w (delete the directory to start afresh)", dir, err)
	}
	if id, err = newIdentity(clientMailbox, clientODS); err != nil {
		return nil, err
	}
	if err := id.save(dir); err != nil {
		return nil, fmt.Errorf("write sandbox PKI to %s: %w", dir, err)
	}
	return id, nil
}

func loadIdentity(dir string) (*identity, error) {
	read := func(name string) (pki.KeyPair, error) {
		certPEM, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return pki.KeyPair{}, err
		}
		keyName := map[string]string{
			fileRootCert: filepath.Join(dirPrivate, fileRootKey), fileSubCACert: filepath.Join(dirPrivate, fileSubCAKey),
			fileServer: filepath.Join(dirPrivate, fileServerKey), fileClient: fileClientKey,
		}[name]
		keyPEM, err := os.ReadFile(filepath.Join(dir, keyName))
		if err != nil {
			return pki.KeyPair{}, err
		}
		certs, err := pki.ParseCertificatesPEM(certPEM)
		if err != nil {
			return pki.KeyPair{}, fmt.Errorf("%s: %w", name, err)
		}
		key, err := pki.ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			return pki.KeyPair{}, fmt.Errorf("%s: %w", keyName, err)
		}
		return pki.KeyPair{Cert: certs[0], Key: key}, nil
	}
	var kps [4]pki.KeyPair
	for i, name := range []string{fileRootCert, fileSubCACert, fileServer, fileClient} {
		kp, err := read(name)
		if err != nil {
			return nil, err
		}
		kps[i] = kp
	}
	id := &identity{ca: &pki.Hierarchy{Root: kps[0], SubCA: kps[1]}, server: kps[2], client: kps[3]}
	now := time.Now()
	for _, kp := range kps {
		if now.After(kp.Cert.NotAfter) {
			// An expired file is not reused: make a new one in place.
			return nil, fmt.Errorf("%s expired on %s: %w", kp.Cert.Subject.CommonName, kp.Cert.NotAfter.Format(time.DateOnly), fs.ErrNotExist)
		}
	}
	return id, nil
}

func (id *identity) save(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, dirPrivate), 0o700); err != nil {
		return err
	}
	certFile := func(name string, certs ...*x509.Certificate) error {
		return replaceFile(filepath.Join(dir, name), pki.EncodeCertificatesPEM(certs...), 0o644)
	}
	keyFile := func(name string, kp pki.KeyPair) error {
		b, err := pki.EncodePrivateKeyPEM(kp.Key)
		if err != nil {
			return err
		}
		return writeSecret(filepath.Join(dir, name), b)
	}
	p12, err := pki.EncodePKCS12(id.client, id.ca.Chain(), KeystorePassword)
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return certFile(fileRootCert, id.ca.Root.Cert) },
		func() error { return certFile(fileSubCACert, id.ca.SubCA.Cert) },
		func() error { return certFile(fileCA, id.ca.Root.Cert, id.ca.SubCA.Cert) },
		func() error { return certFile(fileServer, id.server.Cert, id.ca.SubCA.Cert) },
		func() error { return certFile(fileClient, id.client.Cert, id.ca.SubCA.Cert) },
		func() error { return keyFile(filepath.Join(dirPrivate, fileRootKey), id.ca.Root) },
		func() error { return keyFile(filepath.Join(dirPrivate, fileSubCAKey), id.ca.SubCA) },
		func() error { return keyFile(filepath.Join(dirPrivate, fileServerKey), id.server) },
		func() error { return keyFile(fileClientKey, id.client) },
		func() error { return writeSecret(filepath.Join(dir, fileClientP12), p12) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// fitClientLifetime reissues the client certificate when its remaining
// life does not match the expiring-client-cert fault: a short one with the
// fault, a full year again once the fault is dropped (so a --pki-dir the
// fault shortened does not stay short). With a dir, the files are rewritten.
func (id *identity) fitClientLifetime(dir string, mb Mailbox, expiring bool) error {
	now := time.Now()
	short := id.client.Cert.NotAfter.Sub(now) <= ExpiringClientLifetime
	if short == expiring {
		return nil
	}
	opts := pki.LeafOptions{CommonName: pki.ClientCommonName(mb.ID, mb.ODSCode)}
	if expiring {
		opts.NotAfter = now.Add(ExpiringClientLifetime)
	}
	client, err := id.ca.IssueClient(opts)
	if err != nil {
		return err
	}
	id.client = client
	if dir == "" {
		return nil
	}
	if err := id.save(dir); err != nil {
		return fmt.Errorf("write sandbox PKI to %s: %w", dir, err)
	}
	return nil
}

// clientTLS is a client configuration that trusts the sandbox CA and
// presents the sandbox client certificate.
// The certificate is presented whatever CAs the server says it accepts, as
// NHS's Java and Python clients do (Go would otherwise send none).
func (id *identity) clientTLS() *tls.Config {
	cert := id.client.TLSCertificate(id.ca.SubCA.Cert)
	return &tls.Config{
		RootCAs:              id.ca.Pool(),
		Certificates:         []tls.Certificate{cert},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		MinVersion:           tls.VersionTLS12,
	}
}

func writeProfile(dir string, p mesh.Profile) (string, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileProfile)
	return path, writeSecret(path, append(b, '\n'))
}

// writeSecret writes a key, keystore or profile readable only by this user
// (mode 0600, or an owner-only ACL on Windows).
func writeSecret(path string, data []byte) error {
	_, err := secretfile.Write(path, data)
	return err
}

// replaceFile writes through a temporary file and a rename so that a
// reader (or a crash) never sees half a file.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
