package checks

import (
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/mesh"
)

// The checks' own handshake names the build and the machine as mesh.Client
// does, so a MESH log line reads the same whichever part of meshdoctor made
// the request.
func TestHandshakeHeadersNameTheBuild(t *testing.T) {
	o := Options{}.withDefaults()
	if want := buildinfo.ClientVersion(); o.ClientVersion != want {
		t.Errorf("default ClientVersion = %q, want %q", o.ClientVersion, want)
	}
	h := handshakeHeaders(o.ClientVersion)
	if got, want := h.Get(mesh.HeaderClientVersion), buildinfo.ClientVersion(); got != want {
		t.Errorf("mex-ClientVersion = %q, want %q", got, want)
	}
	if got, want := h.Get("User-Agent"), mesh.UserAgent(); got != want {
		t.Errorf("User-Agent = %q, want mesh.Client's %q", got, want)
	}
	for name, want := range mesh.HandshakeHeaders(o.ClientVersion) {
		if got := h.Values(name); len(got) != 1 || got[0] != want[0] {
			t.Errorf("%s = %q, want mesh.Client's %q", name, got, want)
		}
	}
}
