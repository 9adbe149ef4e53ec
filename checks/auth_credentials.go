package checks

import (
	"context"
	"strings"
	"unicode"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var authCredentials = Check{
	ID:      "auth.credentials",
	Title:   "Mailbox, password and shared key are set and make a valid NHSMESH authorization token",
	Offline: true,
	Run:     judgeCredentials,
}

func judgeCredentials(_ context.Context, f *Facts) Verdict {
	c := f.Target.Credentials
	src := func(name, dflt string) string {
		if s := f.Source(name); s != "" {
			return "set (from " + s + ")"
		}
		return dflt
	}
	v := func(v Verdict) Verdict {
		return v.With("mailbox", c.Mailbox).
			With("mailbox from", f.Source("mailbox")).
			With("password", src("password", presence(c.Password))).
			With("shared key", src("shared_key", presence(c.SharedKey)))
	}
	switch {
	case c.Mailbox == "":
		return v(Failf("no mailbox id")).Fix("Pass --mailbox (or set MESH_MAILBOX_ID) with your MESH mailbox id, e.g. X26ABC1.")
	case strings.ToUpper(c.Mailbox) != c.Mailbox:
		return v(Failf("the mailbox id %q has lower-case letters; MESH refuses tokens that do not use the upper-case id", c.Mailbox)).
			Fix("Use %s: MESH mailbox ids are upper case, and a token with %q is refused with 403 by MESH (and by your MESH client too).", strings.ToUpper(c.Mailbox), c.Mailbox)
	case strings.ContainsFunc(c.Mailbox, func(r rune) bool { return r == ':' || unicode.IsSpace(r) }):
		return v(Failf("the mailbox id %q contains a colon or a space, which cannot go in an NHSMESH token", c.Mailbox)).
			Fix("Check --mailbox: mailbox ids are letters and digits, e.g. X26ABC1.")
	case c.Password == "" && c.SharedKey == "":
		return v(Failf("neither the mailbox password nor the shared key is set")).
			Fix("Set MESH_MAILBOX_PASSWORD (your mailbox's password) and MESH_SHARED_KEY (the environment's shared key from the service desk), or their *_FILE variants naming files that hold them.")
	case c.Password == "":
		return v(Failf("the mailbox password is not set")).Fix("Set MESH_MAILBOX_PASSWORD, or MESH_MAILBOX_PASSWORD_FILE naming a file that holds it.")
	case c.SharedKey == "":
		return v(Failf("the shared key is not set")).Fix("Set MESH_SHARED_KEY (the environment's shared key, from the service desk when the mailbox was set up), or MESH_SHARED_KEY_FILE.")
	}
	now := f.Now()
	header := mesh.NewToken(c, now)
	tok, err := mesh.ParseToken(header)
	if err == nil {
		err = tok.Verify(c.Password, c.SharedKey, now, mesh.TokenWindow)
	}
	if err != nil {
		return v(Errorf("the token meshdoctor built does not verify: %v (a meshdoctor bug)", err))
	}
	// The shape, never the token: its HMAC is a credential for a minute.
	shape := tok.Mailbox + ":<nonce>:" + tok.NonceCount + ":" + tok.Timestamp + ":<HMAC-SHA256 hidden>"
	verdict := v(Passf("mailbox %s, password and shared key set; the NHSMESH authorization token builds and verifies", c.Mailbox)).With("token shape", shape)
	if !isASCII(c.Password) || !isASCII(c.SharedKey) {
		return v(Warnf("the password or shared key has non-ASCII characters")).With("token shape", shape).
			Fix("NHS's clients encode the token as ASCII; check the value was not mangled when it was copied (smart quotes, a non-breaking space).")
	}
	return verdict
}

func presence(s string) string {
	if s == "" {
		return "not set"
	}
	return "set"
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}
