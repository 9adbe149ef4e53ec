package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/reports"
)

type keystoreFlags struct {
	env, alias, key, caBundle, format string
	verbose                           bool
}

// identityCheckIDs are the checks `keystore inspect` runs: those that judge
// files only.
var identityCheckIDs = []string{"keystore.load", "keystore.sha2", "cert.client", "cert.trust"}

func (a *app) keystoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keystore",
		Short: "Look inside a MESH client keystore",
		Args:  noArgs,
	}
	var f keystoreFlags
	inspect := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a keystore holds and judge it by the Spine's rules",
		Long: `Open a keystore — PKCS#12 (.p12/.pfx), Java KeyStore (.jks) or PEM (certificate and key in
one file, or the key in --key), recognised by content, not by name — and show its entries,
the certificate chain, how the file is protected, and the verdicts of the identity checks:
keystore.load, keystore.sha2, cert.client and cert.trust. Nothing touches the network.

The password comes from MESH_KEYSTORE_PASSWORD (or the file named by
MESH_KEYSTORE_PASSWORD_FILE); without one, the published keystore password of the
path-to-live environment given with --env is tried, and the output says so.

` + exitCodesHelp,
		Example: `  meshdoctor keystore inspect --env int mesh-int.jks
  MESH_KEYSTORE_PASSWORD_FILE=pw.txt meshdoctor keystore inspect client.p12 --format json
  meshdoctor keystore inspect client.crt --key client.key --ca-bundle nhs-int-ca-bundle.pem`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("keystore inspect takes one keystore file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.inspectKeystore(cmd.Context(), args[0], f)
		},
	}
	fl := inspect.Flags()
	fl.StringVar(&f.env, "env", "", "MESH environment the keystore is for: int, dev, dep, train or live (picks the published password and the CAs to expect)")
	fl.StringVar(&f.alias, "alias", "", "the entry to use when the keystore holds several keys")
	fl.StringVar(&f.key, "key", "", "a separate PEM private key for a PEM certificate FILE")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of the Spine root and SubCA certificates to verify the chain with")
	fl.StringVar(&f.format, "format", "text", "output on stdout: text or json")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show every check's evidence")
	cmd.AddCommand(inspect)
	return cmd
}

// keystoreReport is `keystore inspect --format json`. It grows by adding
// members, never by renaming them.
type keystoreReport struct {
	Schema       int               `json:"schema"`
	File         string            `json:"file"`
	KeyFile      string            `json:"key_file,omitempty"`
	Environment  string            `json:"environment,omitempty"`
	Format       string            `json:"format,omitempty"`
	PasswordFrom string            `json:"password_from"`
	Protection   *pki.Protection   `json:"protection,omitempty"`
	Entries      []keystoreEntry   `json:"entries"`
	Used         string            `json:"used,omitempty"`
	LoadError    string            `json:"load_error,omitempty"`
	Checks       []checks.Result   `json:"checks"`
	Summary      reportSummaryJSON `json:"summary"`
}

type keystoreEntry struct {
	Alias      string         `json:"alias"`
	PrivateKey bool           `json:"private_key"`
	KeyMatches bool           `json:"key_matches,omitempty"`
	Chain      []pki.CertInfo `json:"chain"`
}

type reportSummaryJSON struct {
	checks.Summary
	OK bool `json:"ok"`
}

func (a *app) inspectKeystore(ctx context.Context, file string, f keystoreFlags) error {
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q: want text or json", f.format)
	}
	for _, p := range []string{file, f.key, f.caBundle} {
		if p == "" {
			continue
		}
		if err := checkInputFile(p); err != nil {
			return usageError{err}
		}
	}
	t := mesh.Target{Keystore: file, Alias: f.alias, CABundle: f.caBundle}
	if f.key != "" {
		t.Keystore, t.CertFile, t.KeyFile = "", file, f.key
	}
	if f.env != "" {
		env, err := mesh.ParseEnvironment(f.env)
		if err != nil {
			return usageError{err}
		}
		t.Environment = env
	}
	pw, from, err := a.secretFrom("MESH_KEYSTORE_PASSWORD")
	if err != nil {
		return usageError{err}
	}
	switch {
	case pw != "":
		t.KeystorePassword = pw
	default:
		from = ""
		if def, ok := t.Environment.KeystorePassword(); ok {
			t.KeystorePassword, from = def, "PTL default for "+string(t.Environment)
		}
	}
	sources := map[string]string{"keystore_password": from}
	var selected []checks.Check
	for _, id := range identityCheckIDs {
		c, ok := checks.Lookup(id)
		if !ok {
			return cannotRunError{fmt.Errorf("check %s is not in the catalogue", id)}
		}
		selected = append(selected, c)
	}
	facts := checks.NewFacts(t, checks.Options{Sources: sources, Alias: f.alias})
	results := checks.RunWith(ctx, facts, selected, nil)
	if ctx.Err() != nil {
		return errInterrupted
	}

	rep := keystoreReport{Schema: 1, File: file, KeyFile: f.key, Environment: string(t.Environment), PasswordFrom: first(from, "none given"), Checks: results, Entries: []keystoreEntry{}}
	// The keystore as the checks loaded it: read and decrypted once.
	st, used, loadErr := facts.ClientIdentity(ctx)
	switch {
	case st == nil && loadErr != nil:
		rep.LoadError = strings.TrimPrefix(loadErr.Error(), file+": ")
	case st != nil:
		rep.Format = string(st.Format)
		if !st.NeedsPassword() {
			rep.PasswordFrom = passwordNotNeeded
		}
		if st.Protection.MAC != "" {
			rep.Protection = &st.Protection
		}
		for _, e := range st.Entries {
			ke := keystoreEntry{Alias: e.Alias, PrivateKey: e.Key != nil, KeyMatches: e.KeyMatches()}
			for _, c := range e.Chain {
				ke.Chain = append(ke.Chain, pki.Describe(c))
			}
			rep.Entries = append(rep.Entries, ke)
		}
		if loadErr == nil {
			rep.Used = used.Alias
		}
	}
	sum := checks.Summarize(results)
	rep.Summary = reportSummaryJSON{Summary: sum, OK: sum.OK()}

	if f.format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return cannotRunError{err}
		}
	} else {
		a.writeKeystoreText(rep, f.verbose)
	}
	if !sum.OK() {
		return failedError{fmt.Sprintf("%d failed", sum.Failed+sum.Errors)}
	}
	return nil
}

// passwordNotNeeded is the password source of a keystore that opened
// without one (a PEM file with an unencrypted key), whatever was set.
const passwordNotNeeded = "none needed (the file is not encrypted)"

func (a *app) writeKeystoreText(rep keystoreReport, verbose bool) {
	w := a.stdout
	fmt.Fprintf(w, "meshdoctor keystore inspect: %s\n\n", rep.File)
	if rep.LoadError != "" {
		fmt.Fprintf(w, "  could not open it: %s\n", rep.LoadError)
	} else {
		fmt.Fprintf(w, "  format:      %s\n", rep.Format)
		if rep.PasswordFrom == passwordNotNeeded {
			fmt.Fprintf(w, "  password:    %s\n", rep.PasswordFrom)
		} else {
			fmt.Fprintf(w, "  password:    from %s\n", rep.PasswordFrom)
		}
		if p := rep.Protection; p != nil {
			fmt.Fprintf(w, "  integrity:   %s\n  cert cipher: %s\n  key cipher:  %s\n", p.MAC, p.CertEncryption, p.KeyEncryption)
		}
		fmt.Fprintf(w, "  entries:     %d\n", len(rep.Entries))
		for _, e := range rep.Entries {
			kind := "trusted certificate"
			switch {
			case e.PrivateKey:
				kind = "private key and certificate"
			case len(e.Chain) > 0 && !e.Chain[0].IsCA:
				// An end entity's certificate, likely the client's own,
				// is not a trust anchor: its key is missing, say so.
				kind = "certificate without its private key"
			}
			used := ""
			if e.Alias == rep.Used {
				used = "  ← used"
			}
			fmt.Fprintf(w, "\n  %q (%s)%s\n", e.Alias, kind, used)
			for i, c := range e.Chain {
				lead := "   "
				if i > 0 {
					lead = "  ←"
				}
				fmt.Fprintf(w, "  %s %s\n", lead, c.Subject)
				fmt.Fprintf(w, "        issuer %s; %s to %s; %s key; %s", c.Issuer, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), c.Key, c.SignatureAlgorithm)
				if len(c.ExtKeyUsage) > 0 {
					fmt.Fprintf(w, "; EKU %s", strings.Join(c.ExtKeyUsage, ", "))
				}
				fmt.Fprintln(w)
				fmt.Fprintf(w, "        SHA-256 %s\n", c.SHA256)
				if c.SpineCA != "" {
					fmt.Fprintf(w, "        NHS CA: %s\n", c.SpineCA)
				}
			}
		}
	}
	fmt.Fprintln(w)
	for _, r := range rep.Checks {
		reports.WriteCheckLine(w, r, reports.TextOptions{Verbose: verbose, Color: a.color()})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, rep.Summary.Line())
}

// checkInputFile refuses, before any work, a keystore, key or CA bundle
// file that is missing, unreadable or a directory. A FIFO is opened without
// waiting for a writer; what is in the file is the loader's to judge.
func checkInputFile(path string) error {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("cannot read %s", trimErr(err))
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}

// trimErr shortens an *fs.PathError to "path: reason".
func trimErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
