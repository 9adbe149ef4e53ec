package checks

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

var certClient = Check{
	ID:      "cert.client",
	Title:   "The client certificate is one MESH will accept",
	Needs:   []string{"keystore.load"},
	Offline: true,
	Run:     judgeCertClient,
}

// expiryWarning is how early cert.client warns of a certificate's end:
// NHS takes about five working days to issue a new one.
const expiryWarning = 30 * 24 * time.Hour

// spineCAsKey names the observation holding the Spine CA table the run
// recognises NHS CAs by. A test (or a caller with a newer table) makes
// that observation first to use its own table.
const spineCAsKey = "pki.spine-cas"

func spineTable(ctx context.Context, f *Facts) []pki.SpineCA {
	return Observe(ctx, f, spineCAsKey, func(context.Context) []pki.SpineCA { return pki.SpineCAs() })
}

// finding is one rule's failure or warning; the first is the summary.
type finding struct {
	status  Status
	summary string
	fix     string
}

func judgeCertClient(ctx context.Context, f *Facts) Verdict {
	id := loadIdentity(ctx, f)
	if !id.Loaded() {
		return Skipf("no client certificate loaded").Fix(noIdentityFix)
	}
	e := id.Entry
	leaf := e.Leaf()
	now := f.Now()
	var out []finding
	add := func(s Status, fix, format string, args ...any) {
		out = append(out, finding{s, fmt.Sprintf(format, args...), fix})
	}
	name := certName(leaf)

	if !e.KeyMatches() {
		add(Fail, "Use the private key generated with the CSR for this certificate; a key from another certificate (or an older CSR) cannot be used with it.",
			"the private key does not belong to the certificate %q", name)
	}
	switch {
	case now.Before(leaf.NotBefore):
		add(Fail, "Check this machine's clock; otherwise wait until the certificate's start, or use the certificate currently in force.",
			"the certificate %q is not valid until %s", name, leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		add(Fail, "Send a new CSR to the service desk (meshdoctor csr new) and use the certificate they issue.",
			"the certificate %q expired on %s", name, leaf.NotAfter.UTC().Format(time.DateOnly))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		add(Warn, "Renew now: send a new CSR to the service desk (meshdoctor csr new); issuing takes about five working days.",
			"the certificate %q expires in %d days (%s)", name, int(leaf.NotAfter.Sub(now).Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if !pki.AllowsClientAuth(leaf) {
		add(Fail, "This is a server certificate. MESH needs a client (endpoint) certificate whose extended key usage includes clientAuth: request one with a CSR.",
			"the certificate %q does not allow client authentication (extended key usage: %s)", name, strings.Join(pki.Describe(leaf).ExtKeyUsage, ", "))
	}
	if ok, why := pki.KeyStrongEnough(leaf.PublicKey); !ok {
		add(Fail, "Make a new key and CSR (meshdoctor csr new makes RSA 2048) and ask for a new certificate.", "the certificate has %s", why)
	}
	switch cn := leaf.Subject.CommonName; {
	case !pki.IsFQDN(cn):
		add(Warn, "MESH endpoint certificates are issued for an FQDN following the Spine naming schema, e.g. X26ABC1.X26.api.mesh-client.nhs.uk.",
			"the certificate's CN %q is not a fully qualified domain name", cn)
	case !pki.FollowsMeshNaming(cn):
		add(Warn, "MESH API certificates are named <mailbox or local id>.<ODS code>."+pki.MeshClientDomain+" (mesh-api.md §7.1); check it is the certificate issued for this endpoint.",
			"the certificate's CN %q does not follow the MESH naming convention <id>.<ODS>.%s", cn, pki.MeshClientDomain)
	}
	issuer := judgeIssuer(ctx, f, id)
	if issuer.status != Pass {
		out = append(out, issuer)
	}

	info := pki.Describe(leaf)
	v := Passf("the certificate %q is valid until %s, allows clientAuth, its key is %s, and %s", name, leaf.NotAfter.UTC().Format(time.DateOnly), info.Key, issuer.summary)
	if len(out) > 0 {
		slices.SortStableFunc(out, func(a, b finding) int { return rank(a.status) - rank(b.status) })
		first := out[0]
		summary := first.summary
		if len(out) > 1 {
			summary += fmt.Sprintf(" (and %s)", plural(len(out)-1, "more finding", "more findings"))
		}
		var fixes []string
		for _, o := range out {
			if !slices.Contains(fixes, o.fix) {
				fixes = append(fixes, o.fix)
			}
		}
		v = Verdict{Status: first.status, Summary: summary}.Fix("%s", strings.Join(fixes, " "))
		if len(out) > 1 {
			for i, o := range out {
				v = v.With(fmt.Sprintf("finding %d", i+1), string(o.status)+": "+o.summary)
			}
		}
		if issuer.status == Pass {
			v = v.With("issuer", issuer.summary)
		}
	}
	return v.With("subject", info.Subject).With("issuer", info.Issuer).
		With("valid", info.NotBefore.Format(time.DateOnly)+" to "+info.NotAfter.Format(time.DateOnly)).
		With("key", info.Key).With("extended key usage", strings.Join(info.ExtKeyUsage, ", ")).
		With("signature", info.SignatureAlgorithm).With("sha256", info.SHA256)
}

func rank(s Status) int {
	switch s {
	case Fail:
		return 0
	case Error:
		return 1
	case Warn:
		return 2
	}
	return 3
}

// judgeIssuer verifies the certificate's chain against the CA bundle and
// the keystore's own CA certificates, and names the NHS environment it
// belongs to. A pass's summary completes the sentence "..., and <summary>".
func judgeIssuer(ctx context.Context, f *Facts, id *identityFacts) finding {
	leaf := id.Entry.Leaf()
	env := targetEnvironment(f.Target)
	envName := "the NHS environments"
	if env != "" {
		envName = env.Title()
	}
	table := spineTable(ctx, f)
	var cas []*x509.Certificate
	if f.Target.CABundle != "" {
		if data, err := pki.ReadFile(f.Target.CABundle, "CA bundle"); err == nil {
			cas, _ = pki.ParseCertificatesPEM(data)
		}
	}
	for _, c := range id.Store.Certificates() {
		if c.IsCA && !c.Equal(leaf) {
			cas = append(cas, c)
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
		inter.AddCert(c)
	}
	for _, c := range id.Entry.Chain[1:] {
		inter.AddCert(c)
	}
	// Judge the issuer apart from the leaf's dates, which have their own
	// finding: an expired leaf is verified as of its last day.
	at := f.Now()
	switch {
	case at.Before(leaf.NotBefore):
		at = leaf.NotBefore.Add(time.Second)
	case at.After(leaf.NotAfter):
		at = leaf.NotAfter.Add(-time.Second)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	issuerName := leaf.Issuer.CommonName
	if pki.IsSelfSigned(leaf) {
		return finding{Warn, fmt.Sprintf("it is self-signed, not issued by NHS: fine for a sandbox; %s will refuse it", envName),
			"For a real environment use the endpoint certificate NHS issues for your FQDN (send a CSR: meshdoctor csr new)."}
	}
	if err != nil {
		if len(cas) == 0 {
			if ca, ok := spineByName(table, issuerName); ok && env != "" && !ca.ServesEnvironment(string(env)) {
				return finding{Fail, fmt.Sprintf("%s certificate aimed at %s: its issuer %q is named like NHS's CA for %s", envArticle(ca.Environments), strings.ToUpper(string(env)), issuerName, strings.Join(ca.Environments, ", ")),
					"Use the certificate (keystore) NHS issued for " + envName + "; certificates are environment specific."}
			}
			return finding{Warn, fmt.Sprintf("its issuer %q cannot be checked: no CA bundle was given and the keystore holds no CA certificates", issuerName),
				"Pass --ca-bundle with the root and SubCA certificates of " + envName + " (from the environment's page) so the chain can be verified."}
		}
		return finding{Fail, fmt.Sprintf("the certificate does not chain to any CA given (issuer %q): %v", issuerName, shortVerifyErr(err)),
			"Use the certificate NHS issued for " + envName + ", with the CA bundle of that environment (--ca-bundle); a certificate from another CA is refused with the TLS alert unknown_ca."}
	}
	envs := map[string]bool{}
	var nhs []string
	for _, chain := range chains {
		for _, c := range chain[1:] {
			if ca, _, ok := pki.LookupSpineCAIn(table, c); ok {
				if !slices.Contains(nhs, ca.CommonName) {
					nhs = append(nhs, ca.CommonName)
				}
				// The CA nearest the leaf says the environment.
				for _, e := range ca.Environments {
					envs[e] = true
				}
				break
			}
		}
	}
	if len(nhs) == 0 {
		return finding{Warn, fmt.Sprintf("it is issued by %q, a private CA, not by NHS: fine for a sandbox; %s will refuse it", issuerName, envName),
			"For a real environment use the endpoint certificate NHS issues for your FQDN (send a CSR: meshdoctor csr new)."}
	}
	var list []string
	for e := range envs {
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b string) int { return envOrder(a) - envOrder(b) })
	if env != "" && !envs[string(env)] {
		return finding{Fail, fmt.Sprintf("%s certificate aimed at %s: it chains to %s", envArticle(list), strings.ToUpper(string(env)), strings.Join(nhs, ", ")),
			"Use the certificate (keystore) NHS issued for " + envName + ", or point meshdoctor at the environment this certificate is for (--env " + list[0] + "); certificates are environment specific."}
	}
	return finding{Pass, fmt.Sprintf("it chains to NHS's %s (%s)", strings.Join(nhs, ", "), strings.Join(list, ", ")), ""}
}

func envOrder(e string) int {
	return slices.Index([]mesh.Environment{mesh.Integration, mesh.Development, mesh.Deployment, mesh.Training, mesh.Live}, mesh.Environment(e))
}

// envArticle is "a DEP", "an INT", "an INT/DEP".
func envArticle(envs []string) string {
	name := strings.ToUpper(strings.Join(envs, "/"))
	if name != "" && strings.ContainsRune("AEIOU", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

func spineByName(table []pki.SpineCA, cn string) (pki.SpineCA, bool) {
	for _, ca := range table {
		if ca.CommonName == cn {
			return ca, true
		}
	}
	return pki.SpineCA{}, false
}

func shortVerifyErr(err error) string {
	if _, ok := err.(x509.UnknownAuthorityError); ok {
		return "signed by an unknown authority"
	}
	return err.Error()
}
