package checks

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/pki"
)

var certTrust = Check{
	ID:      "cert.trust",
	Title:   "The CA bundle holds the environment's Spine root and SubCA, none expired",
	After:   []string{"keystore.load"},
	Offline: true,
	Run:     judgeCertTrust,
}

func judgeCertTrust(ctx context.Context, f *Facts) Verdict {
	env := targetEnvironment(f.Target)
	var certs []*x509.Certificate
	source, noun := "", "the CA bundle"
	// Without a CA bundle, the keystore's CA certificates are judged (a
	// Java client trusts its keystore), but meshdoctor's own TLS does not
	// use them, so what they lack is a warning, not a failure.
	failed := Failf
	if path := f.Target.CABundle; path != "" {
		data, err := pki.ReadFile(path, "CA bundle")
		if err != nil {
			return Errorf("cannot read the CA bundle: %v", err).Fix("Check the --ca-bundle path and that this user may read it.")
		}
		certs, err = pki.ParseCertificatesPEM(data)
		if err != nil {
			return Failf("the CA bundle %s holds no certificate: %v", path, trimPath(err, path)).
				Fix("The CA bundle is a PEM file of CERTIFICATE blocks: the root and SubCA certificates of the environment, from its page.")
		}
		source = "CA bundle " + path
	} else if id := loadIdentity(ctx, f); id.Store != nil {
		// A Java keystore is often its own truststore: NHS's predefined
		// ones hold the CA certificates as trusted entries.
		for _, c := range id.Store.Certificates() {
			if c.IsCA {
				certs = append(certs, c)
			}
		}
		source, noun, failed = "the keystore's CA certificates ("+id.Path+")", "the keystore", Warnf
	}
	if len(certs) == 0 {
		need := "the root and SubCA certificates of the environment"
		if env != "" {
			need = "the " + env.Title() + " root and SubCA certificates"
		}
		fix := fmt.Sprintf("Pass --ca-bundle (or set MESH_CA_BUNDLE) with %s, downloaded from the environment's page.", need)
		if env != "" {
			// NHS's CAs are in no operating system's trust store.
			return Failf("no CA bundle is configured: %s's server certificates are issued by NHS CAs that this system does not trust", env.Title()).Fix("%s", fix)
		}
		return Skipf("no CA bundle is configured, so the trust anchors cannot be judged").Fix("%s", fix)
	}
	table := spineTable(ctx, f)
	now := f.Now()
	var held []pki.SpineCA
	var nhs, others, expired []string
	for _, c := range certs {
		ca, byName, ok := pki.LookupSpineCAIn(table, c)
		if now.After(c.NotAfter) {
			expired = append(expired, fmt.Sprintf("%q (expired %s)", certName(c), c.NotAfter.UTC().Format(time.DateOnly)))
		}
		if !ok {
			others = append(others, fmt.Sprintf("%s (SHA-256 %s)", c.Subject.String(), pki.Fingerprint(c)))
			continue
		}
		held = append(held, ca)
		note := ""
		if byName {
			note = ", by name only"
		}
		nhs = append(nhs, fmt.Sprintf("%s (%s, %s%s) %s", ca.CommonName, strings.Join(ca.Environments, "/"), ca.Generation, note, pki.Fingerprint(c)))
	}
	ev := func(v Verdict) Verdict {
		return v.With("source", source).With("certificates", len(certs)).
			With("NHS CAs", strings.Join(nhs, "; ")).With("other CAs", strings.Join(others, "; ")).
			With("expired", strings.Join(expired, ", "))
	}
	if env == "" {
		if len(expired) > 0 {
			return ev(Warnf("%s holds expired certificates: %s", noun, strings.Join(expired, ", "))).
				Fix("Remove the expired certificates from the bundle.")
		}
		// Without an environment there is no list of CAs to hold: only
		// expiry can be judged. The keystore's own CAs are not what
		// meshdoctor trusts the server by, so they earn no pass at all.
		held := fmt.Sprintf("%s (%d of NHS)", plural(len(certs), "CA certificate", "CA certificates"), len(held))
		if f.Target.CABundle == "" {
			return ev(Skipf("no environment (--env) and no CA bundle (--ca-bundle): nothing to judge the keystore's %s against (none expired)", held)).
				Fix("Pass --env (int, dep, train or live) to judge them against that environment's Spine root and SubCA, or --ca-bundle with the CA certificates that issued the server's certificate.")
		}
		return ev(Passf("%s holds %s, none expired; which CAs it should hold was not judged: no environment (--env) is given", noun, held)).
			Fix("Pass --env (int, dep, train or live) to judge the bundle against that environment's Spine root and SubCA.")
	}
	var missing []string
	for _, want := range requiredSpineCAs(table, string(env)) {
		if !slices.ContainsFunc(held, func(h pki.SpineCA) bool { return h.CommonName == want.CommonName }) {
			kind := "SubCA"
			if want.Root() {
				kind = "root"
			}
			missing = append(missing, fmt.Sprintf("the %s %q", kind, want.CommonName))
		}
	}
	if len(missing) > 0 {
		v := failed("%s lacks %s of %s", noun, strings.Join(missing, " and "), env.Title())
		if len(held) > 0 {
			var envs []string
			for _, h := range held {
				for _, e := range h.Environments {
					if !slices.Contains(envs, e) {
						envs = append(envs, e)
					}
				}
			}
			v.Summary += fmt.Sprintf(" (it holds NHS CAs of %s)", strings.Join(envs, ", "))
		}
		return ev(v).Fix("Download the %s root and SubCA (G2) certificates from the environment's page, put them in one PEM file and pass it with --ca-bundle; NHS's mesh-client ships them as nhs-%s-ca-bundle.pem.", env.Title(), env)
	}
	if len(expired) > 0 {
		return ev(Warnf("%s holds %s's root and SubCA, but also expired certificates: %s", noun, env.Title(), strings.Join(expired, ", "))).
			Fix("Remove the expired certificates from the bundle (the legacy live root and Level 1C expired on 2024-06-04); the G2 CAs replace them.")
	}
	return ev(Passf("%s holds %s's root and SubCA (%d NHS CAs, none expired)", noun, env.Title(), len(held)))
}

// requiredSpineCAs are the root and SubCA an environment's server and
// client certificates chain to: the current (G2) generation where the
// table has one for env, else the legacy one.
func requiredSpineCAs(table []pki.SpineCA, env string) []pki.SpineCA {
	for _, gen := range []string{"G2", "legacy"} {
		var out []pki.SpineCA
		for _, ca := range table {
			if ca.Generation == gen && ca.ServesEnvironment(env) {
				out = append(out, ca)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}
