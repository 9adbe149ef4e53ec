package pki

import (
	"net"
	"sync"
	"testing"
)

// fixture is one hierarchy with a server and a client leaf, built once and
// shared by the tests (RSA key generation dominates test time).
type fixture struct {
	h      *Hierarchy
	server KeyPair
	client KeyPair
}

var (
	fixtureOnce sync.Once
	fixtureVal  fixture
	fixtureErr  error
)

func testFixture(t *testing.T) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		var f fixture
		f.h, fixtureErr = NewHierarchy(HierarchyOptions{Name: "meshdoctor test"})
		if fixtureErr != nil {
			return
		}
		f.server, fixtureErr = f.h.IssueServer(LeafOptions{
			CommonName: "localhost",
			DNSNames:   []string{"localhost"},
			IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
		})
		if fixtureErr != nil {
			return
		}
		f.client, fixtureErr = f.h.IssueClient(LeafOptions{CommonName: ClientCommonName("X26ABC1", "X26")})
		fixtureVal = f
	})
	if fixtureErr != nil {
		t.Fatalf("build test fixture: %v", fixtureErr)
	}
	return fixtureVal
}
