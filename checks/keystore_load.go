package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

var keystoreLoad = Check{
	ID:      "keystore.load",
	Title:   "The client keystore opens and holds a client identity",
	Offline: true,
	Run:     judgeKeystoreLoad,
}

// identityFacts is the client identity as pki's loader read it, once per
// run, for the keystore.* and cert.* checks.
type identityFacts struct {
	Configured bool
	// Path is the keystore (or PEM certificate) file; KeyPath a separate
	// PEM key.
	Path, KeyPath string
	What          string // "keystore" or "client certificate"
	// PasswordFrom says where the password came from, never what it is.
	PasswordFrom string
	Alias        string
	Store        *pki.Store
	Entry        pki.Entry
	Err          error // the file did not load
	PickErr      error // it loaded, but no entry is the identity
}

// Loaded reports whether an entry was picked.
func (id *identityFacts) Loaded() bool { return id.Err == nil && id.PickErr == nil && id.Store != nil }

func loadIdentity(ctx context.Context, f *Facts) *identityFacts {
	return Observe(ctx, f, "identity", func(context.Context) *identityFacts {
		t := f.Target
		id := &identityFacts{Path: t.Keystore, What: "keystore", Alias: firstNonEmpty(f.Options.Alias, t.Alias)}
		if t.Keystore == "" {
			id.Path, id.KeyPath, id.What = t.CertFile, t.KeyFile, "client certificate"
		}
		if id.Path == "" && id.KeyPath == "" {
			return id
		}
		id.Configured = true
		if id.Path == "" {
			id.Err = errors.New("a client key (--key) needs its certificate (--cert)")
			return id
		}
		password := t.KeystorePassword
		id.PasswordFrom = f.Source("keystore_password")
		if password == "" {
			if pw, ok := targetEnvironment(t).KeystorePassword(); ok {
				password, id.PasswordFrom = pw, "PTL default for "+string(targetEnvironment(t))
			}
		}
		switch {
		case password == "":
			id.PasswordFrom = "none given"
		case id.PasswordFrom == "":
			id.PasswordFrom = "the target's configuration"
		}
		id.Store, id.Err = pki.LoadStore(id.Path, id.KeyPath, password)
		if id.Err == nil && !id.Store.NeedsPassword() {
			id.PasswordFrom = "none needed (the file is not encrypted)"
		}
		if id.Err == nil {
			id.Entry, id.PickErr = id.Store.Pick(id.Alias)
		}
		return id
	})
}

// ClientIdentity is the client identity as the run loaded it (once, for
// every check that asks): the keystore, the entry picked, and why either
// failed. store is nil when no identity is configured or it did not load.
func (f *Facts) ClientIdentity(ctx context.Context) (store *pki.Store, entry pki.Entry, err error) {
	id := loadIdentity(ctx, f)
	if id.Err != nil {
		return nil, pki.Entry{}, id.Err
	}
	return id.Store, id.Entry, id.PickErr
}

// targetEnvironment is the environment the target names, or the one its
// URL belongs to; "" for a sandbox or other host.
func targetEnvironment(t mesh.Target) mesh.Environment {
	if t.Environment != "" {
		return t.Environment
	}
	if t.URL != "" {
		if ep, ok := mesh.EndpointForURL(t.URL); ok {
			return ep.Environment
		}
	}
	return ""
}

const noIdentityFix = "Pass --keystore FILE (PKCS#12, JKS or PEM; or set MESH_KEYSTORE), or --cert FILE and --key FILE."

func judgeKeystoreLoad(ctx context.Context, f *Facts) Verdict {
	id := loadIdentity(ctx, f)
	if !id.Configured {
		if env := targetEnvironment(f.Target); env != "" {
			// An NHS environment refuses every connection without one.
			return Failf("no client keystore or certificate is configured, and MESH %s requires one (mutual TLS)", env.Title()).
				Fix("%s Use the keystore (or endpoint certificate and key) NHS issued for %s.", noIdentityFix, env.Title())
		}
		return Skipf("no client keystore or certificate is configured, so there is no identity to judge").Fix(noIdentityFix)
	}
	if id.Path == "" {
		return Failf("a client key (--key) was given without its certificate (--cert)").With("key file", id.KeyPath).
			Fix("Pass the certificate that goes with the key: --cert FILE (or MESH_CLIENT_CERT), or a keystore holding both with --keystore.")
	}
	name := filepath.Base(id.Path)
	ev := func(v Verdict) Verdict {
		v = v.With(id.What, id.Path).With("key file", id.KeyPath).With("password from", id.PasswordFrom)
		if id.Store != nil {
			v = v.With("format", id.Store.Format).With("entries", id.Store.List())
		}
		return v
	}
	if err := id.Err; err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
			return ev(Errorf("cannot read the %s: %v", id.What, err)).Fix("Check the path and that this user may read the file.")
		case errors.Is(err, pki.ErrIsDirectory), errors.Is(err, pki.ErrTooLarge):
			return ev(Errorf("the %s %v", id.What, err)).Fix("Give the %s file itself (a PKCS#12, JKS or PEM file of a few kilobytes).", id.What)
		case errors.Is(err, pki.ErrWrongPassword):
			return ev(Failf("wrong keystore password for %s (password from %s)", name, id.PasswordFrom)).Fix("%s", wrongPasswordFix(id))
		}
		return ev(Failf("%s: %s", name, trimPath(err, id.Path))).Fix("%s", firstNonEmpty(pki.Remedy(err),
			"Give a keystore in a format meshdoctor reads: PKCS#12 (.p12/.pfx), Java KeyStore (.jks), or a PEM certificate and key."))
	}
	if id.PickErr != nil {
		return ev(Failf("%s opened (%s) but %s", name, id.Store.Format, trimPath(id.PickErr, id.Path))).
			Fix("%s", firstNonEmpty(pki.Remedy(id.PickErr), "Pass --alias with the entry that holds your client key."))
	}
	leaf := id.Entry.Leaf()
	v := Passf("opened %s: %s, %s; using %q (%s)", name, id.Store.Format, plural(len(id.Store.Entries), "entry", "entries"),
		id.Entry.Alias, leaf.Subject.CommonName)
	v = ev(v).With("entry used", id.Entry.Alias).With("certificate", leaf.Subject.String()).With("issuer", leaf.Issuer.String())
	if p := id.Store.Protection; p.MAC != "" {
		v = v.With("integrity", p.MAC).With("certificate encryption", p.CertEncryption).With("key encryption", p.KeyEncryption)
	}
	return v
}

func wrongPasswordFix(id *identityFacts) string {
	switch {
	case strings.HasPrefix(id.PasswordFrom, "PTL default"):
		return "The environment's published keystore password did not open it: this keystore has a password of its own. Set MESH_KEYSTORE_PASSWORD (or MESH_KEYSTORE_PASSWORD_FILE), or check --env: each path-to-live environment's keystore has its own password."
	case id.PasswordFrom == "none given":
		return "Set MESH_KEYSTORE_PASSWORD (or MESH_KEYSTORE_PASSWORD_FILE), or pass --env for a path-to-live environment's predefined keystore."
	}
	return "Check the password in " + id.PasswordFrom + " (a trailing space or newline counts), and that the keystore is the one for this environment: each path-to-live environment's predefined keystore has its own password."
}

// trimPath drops the file name the loader put at the front of an error,
// since the summary names the file already.
func trimPath(err error, path string) string {
	return strings.TrimPrefix(err.Error(), path+": ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
