package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshdoctor/meshdoctor/pki"
)

var keystoreSHA2 = Check{
	ID:      "keystore.sha2",
	Title:   "The keystore is SHA-2: its chain and its own protection",
	Needs:   []string{"keystore.load"},
	Offline: true,
	Run:     judgeKeystoreSHA2,
}

// judgeKeystoreSHA2 applies the PTL rule "MESH client over the internet
// requires a SHA2 keystore" to every certificate of the chain, and warns
// about a PKCS#12 file protected with legacy algorithms.
func judgeKeystoreSHA2(ctx context.Context, f *Facts) Verdict {
	id := loadIdentity(ctx, f)
	if !id.Loaded() {
		return Skipf("no keystore loaded").Fix(noIdentityFix)
	}
	var weak, weakRoots, odd, algs []string
	for _, c := range id.Entry.Chain {
		name := fmt.Sprintf("%q (%s)", certName(c), c.SignatureAlgorithm)
		algs = append(algs, name)
		switch {
		case pki.WeakSignature(c.SignatureAlgorithm) && pki.IsSelfSigned(c):
			// A root's own signature is not what TLS checks: it is
			// trusted because it is in the trust store.
			weakRoots = append(weakRoots, name)
		case pki.WeakSignature(c.SignatureAlgorithm):
			weak = append(weak, name)
		case !pki.SHA2Signature(c.SignatureAlgorithm):
			odd = append(odd, name)
		}
	}
	p := id.Store.Protection
	ev := func(v Verdict) Verdict {
		v = v.With("chain", strings.Join(algs, "; "))
		if p.MAC != "" {
			v = v.With("integrity", p.MAC).With("certificate encryption", p.CertEncryption).With("key encryption", p.KeyEncryption)
		}
		return v
	}
	if len(weak) > 0 {
		return ev(Failf("not a SHA-2 keystore: %s signed with a broken hash: %s", plural(len(weak), "certificate is", "certificates are"), strings.Join(weak, ", "))).
			Fix("MESH over the internet requires a SHA-2 keystore. Ask the service desk for a certificate signed with SHA-256 (send a new CSR: meshdoctor csr new), and use the environment's current (G2) keystore or CA certificates.")
	}
	var warns []string
	fix := ""
	if len(odd) > 0 {
		warns = append(warns, "signature algorithms not known to be SHA-256 or stronger: "+strings.Join(odd, ", "))
	}
	if len(weakRoots) > 0 {
		warns = append(warns, "a root signs itself with SHA-1 ("+strings.Join(weakRoots, ", ")+"); harmless for TLS, but it is a retired root")
		fix = "Drop the retired root from the keystore and use the environment's G2 root. "
	}
	if len(p.Legacy) > 0 {
		warns = append(warns, "the "+string(id.Store.Format)+" file is protected with legacy algorithms: "+strings.Join(p.Legacy, ", "))
		fix += "Re-export it with modern algorithms (AES-256, HMAC-SHA-256) using OpenSSL 3; the password stays in MESH_KEYSTORE_PASSWORD and the key stays encrypted: " + pki.PKCS12ReexportCommand(id.Path)
	}
	if len(warns) > 0 {
		return ev(Warnf("the chain is SHA-2, but %s", strings.Join(warns, "; "))).Fix("%s", fix)
	}
	summary := fmt.Sprintf("SHA-2 keystore: %s signed with SHA-256 or stronger", plural(len(id.Entry.Chain), "certificate", "certificates"))
	if p.MAC != "" {
		summary += "; protected with " + p.MAC
	}
	return ev(Passf("%s", summary))
}
