package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/secretfile"
	"github.com/meshdoctor/meshdoctor/pki"
)

const csrRulesHelp = `The path-to-live rules for a MESH API endpoint certificate (mesh-api.md A.1, §7.1):
the CN is the endpoint's FQDN, following the naming schema
<mailbox or local id>.<ODS code>.api.mesh-client.nhs.uk; every other subject field may be
blank and the email field must be blank. Send the CSR to itoc.supportdesk@nhs.net for
path to live, ssd.nationalservicedesk@nhs.net for live.`

func (a *app) csrCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "csr",
		Short: "Make and check certificate signing requests by the PTL rules",
		Long:  csrRulesHelp,
		Args:  noArgs,
	}
	cmd.AddCommand(a.csrNewCommand(), a.csrCheckCommand())
	return cmd
}

type csrNewFlags struct {
	fqdn, keyOut, out string
	force             bool
}

func (a *app) csrNewCommand() *cobra.Command {
	var f csrNewFlags
	cmd := &cobra.Command{
		Use:   "new --fqdn NAME --key-out FILE",
		Short: "Make an RSA 2048 key and a SHA-256 CSR whose subject is CN=FQDN and nothing else",
		Long: `Make a new private key (RSA 2048, written to --key-out readable only by you: mode 0600,
or an owner-only access list on Windows; unencrypted PKCS#8 PEM) and a certificate
signing request for it (SHA-256, subject CN=<FQDN> alone, no email), written to stdout
or to --out. An existing file is never overwritten without --force (the
key file may be the key your current certificate needs), and --out and --key-out must be
different files.

` + csrRulesHelp + `

` + exitCodesHelp,
		Example: `  meshdoctor csr new --fqdn X26ABC1.X26.api.mesh-client.nhs.uk --key-out client.key --out client.csr`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.csrNew(f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.fqdn, "fqdn", "", "the endpoint's FQDN, the CSR's CN (e.g. X26ABC1.X26.api.mesh-client.nhs.uk)")
	fl.StringVar(&f.keyOut, "key-out", "", "file to write the new private key to (readable only by you)")
	fl.StringVar(&f.out, "out", "", "file to write the CSR to (default: stdout)")
	fl.BoolVar(&f.force, "force", false, "replace an existing key file or CSR file")
	return cmd
}

func (a *app) csrNew(f csrNewFlags) error {
	switch {
	case f.fqdn == "":
		return usagef("--fqdn is required: the endpoint's FQDN, e.g. X26ABC1.X26.api.mesh-client.nhs.uk")
	case f.keyOut == "":
		return usagef("--key-out is required: the file to write the new private key to")
	case !pki.IsFQDN(f.fqdn):
		return usagef("--fqdn %q is not a fully qualified domain name (like X26ABC1.X26.api.mesh-client.nhs.uk)", f.fqdn)
	}
	// Everything that can be refused is refused before the key is made, so
	// a bad --out leaves no key behind and never replaces a file.
	if err := checkCSROutputs(f); err != nil {
		return err
	}
	csrPEM, key, err := pki.NewCSR(f.fqdn)
	if err != nil {
		return usageError{err}
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return cannotRunError{err}
	}
	protection, err := secretfile.Write(f.keyOut, keyPEM)
	if err != nil {
		return cannotRunError{fmt.Errorf("write the key: %w", err)}
	}
	if f.out != "" {
		if err := os.WriteFile(f.out, csrPEM, 0o644); err != nil {
			return cannotRunError{fmt.Errorf("write the CSR: %w", err)}
		}
	} else if _, err := a.stdout.Write(csrPEM); err != nil {
		return cannotRunError{err}
	}
	fmt.Fprintf(a.stderr, "meshdoctor: wrote the private key to %s (%s; keep it, the certificate will need it)\n", f.keyOut, protection)
	if f.out != "" {
		fmt.Fprintf(a.stderr, "meshdoctor: wrote the CSR to %s\n", f.out)
	}
	if !pki.FollowsMeshNaming(f.fqdn) {
		fmt.Fprintf(a.stderr, "meshdoctor: warning: %q does not follow the MESH naming convention <id>.<ODS>.%s\n", f.fqdn, pki.MeshClientDomain)
	}
	fmt.Fprintln(a.stderr, "meshdoctor: send the CSR to itoc.supportdesk@nhs.net (path to live) or ssd.nationalservicedesk@nhs.net (live)")
	return nil
}

// checkCSROutputs refuses output files that would destroy something or
// cannot be written: the same file for the key and the CSR, an existing
// file without --force, a directory, a directory that does not exist or
// that this user cannot write to.
func checkCSROutputs(f csrNewFlags) error {
	if f.out != "" && sameFile(f.out, f.keyOut) {
		return usagef("--out and --key-out name the same file (%s): the CSR would replace the private key; give the CSR its own file", f.out)
	}
	outputs := []struct{ flag, path, what string }{{"--key-out", f.keyOut, "it may be the key your current certificate needs"}}
	if f.out != "" {
		outputs = append(outputs, struct{ flag, path, what string }{"--out", f.out, "it may be a key or a certificate you need"})
	}
	for _, o := range outputs {
		fi, err := os.Lstat(o.path)
		switch {
		case err == nil && fi.IsDir():
			return usagef("%s %s is a directory: give a file name", o.flag, o.path)
		case err == nil && !f.force:
			return usagef("%s %s exists: %s; pass --force to replace it", o.flag, o.path, o.what)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return usagef("%s: %s", o.flag, trimErr(err))
		}
		if err := dirWritable(filepath.Dir(o.path)); err != nil {
			return usagef("%s %s cannot be written: %v", o.flag, o.path, err)
		}
	}
	return nil
}

// sameFile reports whether a and b name one file, or would once written:
// the same cleaned absolute path; when both exist, the same file by
// os.SameFile on what each resolves to (symbolic links, hard links, junctions
// and other spellings); when neither exists, the same name in the same
// directory, the directories compared the same way.
func sameFile(a, b string) bool {
	aa, errA := filepath.Abs(a)
	bb, errB := filepath.Abs(b)
	if errA == nil && errB == nil && aa == bb {
		return true
	}
	ia, errA := resolvedStat(a)
	ib, errB := resolvedStat(b)
	switch {
	case errA == nil && errB == nil:
		return os.SameFile(ia, ib)
	case errors.Is(errA, fs.ErrNotExist) && errors.Is(errB, fs.ErrNotExist):
		a, b = danglingTarget(a), danglingTarget(b)
		da, errA := resolvedStat(filepath.Dir(a))
		db, errB := resolvedStat(filepath.Dir(b))
		return errA == nil && errB == nil && os.SameFile(da, db) && sameName(filepath.Base(a), filepath.Base(b))
	}
	return false
}

// danglingTarget is the file a write to path would create: path itself, or
// where the symbolic link at path points when that does not exist yet.
func danglingTarget(path string) string {
	for range 8 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		dest, err := os.Readlink(path)
		if err != nil {
			break
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return path
}

// resolvedStat describes the file path leads to. An open file's Stat names
// the file itself on every platform; os.Stat on Windows can describe a
// symbolic link rather than its target when compared with os.SameFile.
func resolvedStat(path string) (fs.FileInfo, error) {
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		return f.Stat()
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	return os.Stat(real)
}

// sameName: Windows and macOS file names ignore case by default.
func sameName(a, b string) bool {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// dirWritable reports why files cannot be created in dir, if they cannot:
// it does not exist, is not a directory, or refuses a new file.
func dirWritable(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("the directory %s: %s", dir, trimErr(err))
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	tmp, err := os.CreateTemp(dir, ".meshdoctor-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s (permission?)", dir)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return nil
}

func (a *app) csrCheckCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a CSR by the PTL rules before sending it to the service desk",
		Long: `Check a certificate signing request (PEM or DER): the CN is an FQDN following the naming
schema (warn when it does not follow the MESH convention), no other subject fields (warn),
no email address (fail), the signature valid and SHA-256 or stronger, the key RSA 2048+ or
ECDSA P-256+. Each finding comes with its fix.

` + csrRulesHelp + `

Exit codes:
  0    nothing failed (warnings allowed)
  1    something failed
  2    the file could not be read as a CSR (or bad usage)`,
		Example: `  meshdoctor csr check client.csr
  meshdoctor csr check client.csr --format json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("csr check takes one CSR file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.csrCheck(args[0], format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output on stdout: text or json")
	return cmd
}

type csrReport struct {
	Schema   int           `json:"schema"`
	File     string        `json:"file"`
	Subject  string        `json:"subject"`
	Findings []pki.Finding `json:"findings"`
	OK       bool          `json:"ok"`
}

func (a *app) csrCheck(path, format string) error {
	if format != "text" && format != "json" {
		return usagef("--format %q: want text or json", format)
	}
	data, err := pki.ReadFile(path, "CSR")
	if err != nil {
		var fe *pki.FileError
		if errors.As(err, &fe) {
			return usageError{err}
		}
		return usagef("cannot read %s", trimErr(err))
	}
	csr, err := pki.ParseCSR(data)
	if err != nil {
		return usagef("%s: %v", path, err)
	}
	rep := csrReport{Schema: 1, File: path, Subject: pki.SubjectString(csr.Subject), Findings: pki.CheckCSR(csr), OK: true}
	failed := 0
	for _, f := range rep.Findings {
		if f.Severity == pki.SeverityFail {
			failed++
		}
	}
	rep.OK = failed == 0
	if format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return cannotRunError{err}
		}
	} else {
		fmt.Fprintf(a.stdout, "meshdoctor csr check: %s (subject %s)\n\n", path, rep.Subject)
		for _, f := range rep.Findings {
			fmt.Fprintf(a.stdout, "  %-5s %-10s %s\n", strings.ToUpper(string(f.Severity)), f.Rule, f.Summary)
			if f.Fix != "" {
				fmt.Fprintf(a.stdout, "        fix: %s\n", f.Fix)
			}
		}
		fmt.Fprintln(a.stdout)
		if failed > 0 {
			fmt.Fprintf(a.stdout, "%d failed: the service desk will reject this CSR\n", failed)
		} else {
			fmt.Fprintln(a.stdout, "nothing failed: this CSR follows the PTL rules")
		}
	}
	if failed > 0 {
		return failedError{fmt.Sprintf("%d failed", failed)}
	}
	return nil
}
