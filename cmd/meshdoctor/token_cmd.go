package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
	"github.com/meshdoctor/meshdoctor/internal/osinfo"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// `meshdoctor token new` and `meshdoctor token verify`: the NHSMESH
// Authorization header, made for a manual test (curl) or taken apart to see
// why MESH refused it. The password and shared key never leave this
// process; `token new` prints the header itself because the user asked for
// it, and only on stdout.

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make an NHSMESH Authorization token, or explain one",
		Long: `Make an NHSMESH Authorization header value for your mailbox (token new), for a manual
test with curl, or take one apart and say what is wrong with it (token verify).

` + exitCodesHelp,
		Example: `  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor token new --mailbox X26ABC1
  meshdoctor token new --profile sandbox-pki/profile.json --curl | sh
  echo "$AUTH_HEADER" | MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor token verify`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown token command %q: want new or verify", args[0])
			}
			return usagef("token needs a command: new or verify")
		},
	}
	cmd.AddCommand(a.tokenNewCommand(), a.tokenVerifyCommand())
	return cmd
}

func (a *app) tokenNewCommand() *cobra.Command {
	var f targetFlags
	var curl bool
	var shellName string
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Print a fresh NHSMESH Authorization value for your mailbox",
		Long: `Print a fresh NHSMESH Authorization header value for the configured mailbox on stdout,
signed with its password and the environment's shared key. It is a secret: MESH accepts
it once, within 2 hours of its timestamp. With --curl, print a curl command that makes
the MESH handshake with it (POST /messageexchange/{mailbox}) instead, written for this
platform's usual shell (PowerShell on Windows, calling curl.exe; a POSIX shell elsewhere) or
the one --shell names: posix, powershell or cmd.

` + targetEnvHelp + `

` + exitCodesHelp,
		Example: `  MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor token new --mailbox X26ABC1
  curl -H "Authorization: $(meshdoctor token new --mailbox X26ABC1)" …
  meshdoctor token new --env int --mailbox X26ABC1 --cert client.pem --key client-key.pem \
      --ca-bundle nhs-int-ca-bundle.pem --curl
  meshdoctor token new --profile profile.json --cert client.pem --key client-key.pem --curl --shell cmd`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("shell") && !curl {
				return usagef("--shell says how to write the --curl command: give --curl as well")
			}
			sh, err := shellFor(shellName)
			if err != nil {
				return usageError{err}
			}
			return a.tokenNew(f, curl, sh)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&curl, "curl", false, "print a curl command for the MESH handshake with the token")
	cmd.Flags().StringVar(&shellName, "shell", "", "write the --curl command for this shell: "+shellNames+" (default: powershell on Windows, posix elsewhere)")
	return cmd
}

func (a *app) tokenNew(f targetFlags, curl bool, sh shell) error {
	t, err := a.resolveTarget(f)
	if err != nil {
		return err
	}
	c := t.Credentials
	if err := requireCredentials(c); err != nil {
		return err
	}
	now := time.Now().UTC()
	value := mesh.NewToken(c, now)
	// A token MESH would refuse is no use to anyone: a lower-case mailbox
	// is named, not corrected, as everywhere else.
	if _, err := mesh.ParseToken(value); err != nil {
		var te *mesh.TokenError
		if errors.As(err, &te) && te.Fault == mesh.FaultMailboxCase {
			return usagef("mailbox %q is not upper case: MESH refuses it (403); use %s", c.Mailbox, strings.ToUpper(c.Mailbox))
		}
		return usagef("cannot make a token for mailbox %q: %v", c.Mailbox, err)
	}
	if curl {
		if err := a.curlIdentity(t, sh); err != nil {
			return err
		}
		cmdline, notes, err := curlHandshake(t, value, sh)
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintln(a.stdout, cmdline)
		for _, n := range notes {
			fmt.Fprintln(a.stderr, "meshdoctor: "+n)
		}
	} else {
		fmt.Fprintln(a.stdout, value)
	}
	fmt.Fprintf(a.stderr, "meshdoctor: token for mailbox %s, timestamp %s: single use (MESH refuses a header it has seen), valid for ±2 hours of that time; keep it secret.\n",
		c.Mailbox, now.Format("2006-01-02 15:04 UTC"))
	return nil
}

// curlIdentity refuses what would make the curl command fail for certain:
// a file that cannot be read, a certificate without its key (or a key
// without its certificate), or a keystore alone, which curl cannot use
// without the password on its command line. For a keystore it prints the
// openssl commands that make the PEM files curl needs. Nothing reaches
// stdout then, so `--curl | sh` runs nothing.
func (a *app) curlIdentity(t mesh.Target, sh shell) error {
	for _, file := range []struct{ flag, path string }{
		{"--keystore", t.Keystore}, {"--cert", t.CertFile}, {"--key", t.KeyFile}, {"--ca-bundle", t.CABundle},
	} {
		if file.path == "" {
			continue
		}
		if err := checkInputFile(file.path); err != nil {
			return usagef("%s: %v", file.flag, err)
		}
	}
	switch {
	case t.KeyFile != "" && t.CertFile == "":
		return usagef("--key needs its certificate: pass --cert as well (curl needs both)")
	case t.CertFile != "" && t.KeyFile == "" && !holdsPrivateKey(t.CertFile):
		return usagef("--cert %s holds no private key: pass its key with --key (curl needs both)", t.CertFile)
	case t.CertFile == "" && t.Keystore != "":
		cert, key := pemNamesFor(t.Keystore)
		q, err := quoteAll(sh, t.Keystore, strings.TrimSuffix(t.Keystore, filepath.Ext(t.Keystore))+".p12", cert, key)
		if err != nil {
			return usageError{err}
		}
		ks, p12, qcert, qkey := q[0], q[1], q[2], q[3]
		var steps []string
		if isJKS(t.Keystore) {
			steps = append(steps, "keytool -importkeystore -srckeystore "+ks+" -destkeystore "+p12+" -deststoretype PKCS12")
			ks = p12
		}
		keyStep := "openssl pkcs12 -in " + ks + " -passin env:MESH_KEYSTORE_PASSWORD -nocerts -nodes -out " + qkey
		if sh.name == "posix" {
			keyStep = "(umask 077; " + keyStep + ")"
		}
		steps = append(steps,
			"openssl pkcs12 -in "+ks+" -passin env:MESH_KEYSTORE_PASSWORD -clcerts -nokeys -out "+qcert, keyStep)
		fmt.Fprintf(a.stderr, "meshdoctor: curl cannot use the keystore %s without its password on the command line (where ps and shell history see it).\n", t.Keystore)
		fmt.Fprintln(a.stderr, "meshdoctor: make PEM files from it once, with the keystore password in MESH_KEYSTORE_PASSWORD (openssl reads it from there):")
		for _, st := range steps {
			fmt.Fprintln(a.stderr, "  "+st)
		}
		if sh.name != "posix" {
			fmt.Fprintf(a.stderr, "meshdoctor: %s holds the private key unencrypted: keep it in a folder only you can read\n", key)
		}
		fmt.Fprintf(a.stderr, "meshdoctor: then run this command again with --cert %s --key %s\n", qcert, qkey)
		return usagef("--curl needs the client certificate and key as PEM files (--cert and --key), not a keystore: no curl command printed")
	}
	return nil
}

// pemNamesFor names the PEM files made from a keystore: beside it, named
// after it (client.p12 → client.cert.pem, client.key.pem), so that they
// replace nothing the keystore came with.
func pemNamesFor(keystore string) (cert, key string) {
	stem := strings.TrimSuffix(keystore, filepath.Ext(keystore))
	return stem + ".cert.pem", stem + ".key.pem"
}

// holdsPrivateKey reports whether a PEM file holds a private key block
// (a certificate and key in one file, which curl's --cert takes alone).
func holdsPrivateKey(path string) bool {
	data, err := pki.ReadFile(path, "certificate file")
	return err == nil && bytes.Contains(data, []byte("PRIVATE KEY-----"))
}

// isJKS reports whether a keystore is a Java KeyStore, which openssl
// cannot read.
func isJKS(path string) bool {
	data, err := pki.ReadFile(path, "keystore")
	return err == nil && bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfe, 0xed})
}

// curlHandshake is a curl command for the MESH handshake with the token,
// and what the user should know about it.
func curlHandshake(t mesh.Target, token string, sh shell) (string, []string, error) {
	base, err := t.BaseURL()
	if err != nil {
		return "", nil, err
	}
	var notes []string
	lines := []string{sh.curl + " -sS -i -X POST"}
	for _, h := range []string{
		mesh.HeaderAuthorization + ": " + token,
		mesh.HeaderClientVersion + ": " + buildinfo.ClientVersion(),
		mesh.HeaderOSName + ": " + runtime.GOOS,
		mesh.HeaderOSVersion + ": " + osinfo.Version(),
		"Accept: " + mesh.AcceptV2,
	} {
		q, err := sh.quote(h)
		if err != nil {
			return "", nil, err
		}
		lines = append(lines, "-H "+q)
	}
	var files []string
	for _, f := range []struct{ flag, path string }{{"--cert", t.CertFile}, {"--key", t.KeyFile}, {"--cacert", t.CABundle}} {
		if f.path == "" {
			continue
		}
		q, err := sh.quote(f.path)
		if err != nil {
			return "", nil, err
		}
		files = append(files, f.flag+" "+q)
	}
	if len(files) > 0 {
		lines = append(lines, strings.Join(files, " "))
	}
	if t.CertFile == "" && strings.HasPrefix(base, "https:") {
		notes = append(notes, "WARNING: no client certificate configured (--cert and --key): MESH requires mutual TLS, so this command will be refused (curl: alert certificate required) unless the server does not ask for one")
	}
	if t.CertFile != "" && sh.curl == "curl.exe" {
		notes = append(notes, schannelNote(t.CertFile))
	}
	u, err := sh.quote(base + mesh.PathPrefix + "/" + url.PathEscape(t.Credentials.Mailbox))
	if err != nil {
		return "", nil, err
	}
	lines = append(lines, u)
	return strings.Join(lines, sh.cont), notes, nil
}

// schannelNote warns that the curl.exe Windows ships uses Schannel, which
// takes a client certificate from the Windows certificate store (or a
// PKCS#12 file with its password on the command line), never from PEM files,
// and names the certificate's thumbprint, by which curl.exe finds it there.
func schannelNote(certFile string) string {
	thumb := "<thumbprint>"
	if data, err := pki.ReadFile(certFile, "certificate file"); err == nil {
		if certs, err := pki.ParseCertificatesPEM(data); err == nil && len(certs) > 0 {
			sum := sha1.Sum(certs[0].Raw) // the thumbprint Windows shows: SHA-1 by definition, not a security choice
			thumb = strings.ToUpper(hex.EncodeToString(sum[:]))
		}
	}
	return "NOTE: the curl.exe that comes with Windows makes TLS with Schannel, which cannot read PEM client certificates (--cert, --key): " +
		"run this with a curl built with OpenSSL (curl.exe --version names its TLS library), or import the certificate and its key into " +
		"your certificate store (Import-PfxCertificate -CertStoreLocation Cert:\\CurrentUser\\My, or certutil -user -importpfx, with the keystore) " +
		"and give curl.exe --cert CurrentUser\\MY\\" + thumb + " in place of --cert and --key"
}

// quoteAll quotes each value for the shell, or says which cannot be.
func quoteAll(sh shell, values ...string) ([]string, error) {
	out := make([]string, len(values))
	for i, v := range values {
		q, err := sh.quote(v)
		if err != nil {
			return nil, err
		}
		out[i] = q
	}
	return out, nil
}

func (a *app) tokenVerifyCommand() *cobra.Command {
	var format, mailbox string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Explain an NHSMESH Authorization value read on stdin",
		Long: `Read a full Authorization header value on stdin (with or without "Authorization:") and
explain each part as MESH judges it: the scheme, the mailbox and its case, the nonce and
its count, the timestamp and its age (MESH allows ±2 hours), and whether the HMAC matches
the mailbox password and shared key in MESH_MAILBOX_PASSWORD and MESH_SHARED_KEY (or their
*_FILE variants). Neither secret, nor the HMAC, is ever printed. With --mailbox (or
MESH_MAILBOX_ID), the token must also be for that mailbox.

Exit codes:
  0    the token is valid now
  1    the token is invalid
  2    usage error: nothing on stdin, no password or shared key
  3    meshdoctor could not run (internal error)`,
		Example: `  echo "$AUTH_HEADER" | MESH_MAILBOX_PASSWORD=… MESH_SHARED_KEY=… meshdoctor token verify
  meshdoctor token new --mailbox X26ABC1 | meshdoctor token verify --format json`,
		Args: func(cmd *cobra.Command, args []string) error {
			// Not echoed, unlike other stray arguments: it is likely the token.
			if len(args) > 0 {
				return usagef("token verify reads the Authorization value on stdin, not as an argument (arguments show in ps and shell history)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.tokenVerify(cmd.InOrStdin(), format, first(mailbox, a.getenv("MESH_MAILBOX_ID")))
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output on stdout: text or json")
	cmd.Flags().StringVar(&mailbox, "mailbox", "", "the mailbox the request is for (default MESH_MAILBOX_ID)")
	return cmd
}

func (a *app) tokenVerify(stdin io.Reader, format, mailbox string) error {
	if format != "text" && format != "json" {
		return usagef("--format %q: want text or json", format)
	}
	password, err := a.secret("MESH_MAILBOX_PASSWORD")
	if err != nil {
		return usageError{err}
	}
	key, err := a.secret("MESH_SHARED_KEY")
	if err != nil {
		return usageError{err}
	}
	switch {
	case password == "":
		return usagef("no mailbox password: set MESH_MAILBOX_PASSWORD or MESH_MAILBOX_PASSWORD_FILE")
	case key == "":
		return usagef("no shared key: set MESH_SHARED_KEY or MESH_SHARED_KEY_FILE")
	}
	header, err := readAuthorization(stdin)
	if err != nil {
		return err
	}
	// MESH upper-cases the mailbox of the request path before comparing.
	r := explainToken(header, strings.ToUpper(strings.TrimSpace(mailbox)), password, key, time.Now().UTC())
	if format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return cannotRunError{err}
		}
	} else {
		r.writeText(a.stdout)
	}
	if !r.Valid {
		return failedError{r.Summary}
	}
	return nil
}

// maxHeader bounds what is read from stdin: a real header is ~150 bytes.
const maxHeader = 64 << 10

// readAuthorization reads one Authorization value from stdin: a bare value
// or an "Authorization: …" line, possibly among other header lines. Errors
// never repeat what was read: it is a secret.
func readAuthorization(r io.Reader) (string, error) {
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", usagef(`token verify reads the Authorization value on stdin: pipe it in, e.g. echo "$AUTH" | meshdoctor token verify`)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, maxHeader+1))
	if err != nil {
		return "", usagef("read stdin: %v", err)
	}
	if len(data) > maxHeader {
		return "", usagef("stdin holds more than %d KiB: give only the Authorization value", maxHeader>>10)
	}
	var lines, auth []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		lines = append(lines, l)
		if name, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(name), mesh.HeaderAuthorization) {
			auth = append(auth, l)
		}
	}
	var line string
	switch {
	case len(lines) == 0:
		return "", usagef("no Authorization value on stdin")
	case len(lines) == 1:
		line = lines[0]
	case len(auth) == 1:
		line = auth[0]
	default:
		return "", usagef("stdin holds %d lines and %d Authorization headers: give one Authorization value", len(lines), len(auth))
	}
	if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), mesh.HeaderAuthorization) {
		line = strings.TrimSpace(value)
	}
	if line == "" {
		return "", usagef("the Authorization header on stdin is empty")
	}
	return line, nil
}

// tokenReport is what `token verify` found. It holds no secret: not the
// password, not the shared key, not the HMAC (expected or given).
type tokenReport struct {
	Schema int  `json:"schema"`
	Valid  bool `json:"valid"`
	// Fault is the first fault, by the names of mesh.TokenFault.
	Fault       mesh.TokenFault `json:"fault,omitempty"`
	Summary     string          `json:"summary"`
	Remediation string          `json:"remediation,omitempty"`
	CheckedAt   string          `json:"checked_at"`
	Parts       []tokenPart     `json:"parts"`
}

// tokenPart is the verdict on one part of the header.
type tokenPart struct {
	Part   string `json:"part"`
	Status string `json:"status"` // ok, fail or unread
	Value  string `json:"value,omitempty"`
	Note   string `json:"note"`
}

const (
	partOK     = "ok"
	partFail   = "fail"
	partUnread = "unread"
)

// tokenFix says what to do about each fault.
var tokenFix = map[mesh.TokenFault]string{
	mesh.FaultScheme:       "Start the value with NHSMESH in capitals and one space: NHSMESH <mailbox>:<nonce>:<nonce_count>:<timestamp>:<hmac>.",
	mesh.FaultParts:        "After NHSMESH come five parts separated by colons, mailbox:nonce:nonce_count:timestamp:hmac; a colon inside the nonce, or a missing part, breaks it.",
	mesh.FaultMailboxEmpty: "Put the mailbox id (e.g. X26ABC1) first.",
	mesh.FaultMailboxSpace: "Remove the white space from the mailbox id in your client's configuration.",
	mesh.FaultMailboxCase:  "Sign with the mailbox id in upper case: MESH refuses a lower-case id with 403. Fix the id in your client's configuration.",
	mesh.FaultNonce:        "Use a fresh random nonce (a GUID) for each request.",
	mesh.FaultNonceCount:   "The nonce count is digits only, e.g. 0.",
	mesh.FaultTimestamp:    "The timestamp is the current UTC time as yyyyMMddHHmm (12 digits), e.g. 202611290503.",
	mesh.FaultHMACShape:    "The last part is the HMAC-SHA256, written as 64 hex digits.",
	mesh.FaultMailbox:      "Sign with the mailbox the request is for: MESH answers 403 \"Mailbox id does not match token\".",
	mesh.FaultHMAC: "The token was signed with a different mailbox password or shared key than MESH_MAILBOX_PASSWORD and MESH_SHARED_KEY hold, " +
		"or its mailbox, nonce, count or timestamp differ from what was signed. Check the password of this mailbox and the shared key of " +
		"this environment (each environment has its own, from the service desk), and that the client signs mailbox:nonce:nonce_count:password:timestamp.",
	mesh.FaultClock: "MESH refuses a token more than 2 hours from its clock: make a fresh token with the current UTC time (not local time), " +
		"and check the clock of the machine that made it (NTP).",
}

// explainToken judges each part of header the way MESH does. The overall
// verdict comes from mesh.ParseToken (structure) and Token.Verify (HMAC and
// clock); the parts are read on their own so that every fault is shown,
// not only the first.
func explainToken(header, wantMailbox, password, sharedKey string, now time.Time) tokenReport {
	r := tokenReport{Schema: 1, CheckedAt: now.Format(time.RFC3339)}
	scheme, rest, found := strings.Cut(header, " ")
	switch {
	case found && scheme == mesh.TokenScheme:
		r.add("scheme", partOK, scheme, "followed by one space")
	case found && strings.EqualFold(scheme, mesh.TokenScheme):
		r.add("scheme", partFail, scheme, "must be NHSMESH in capitals")
	case strings.HasPrefix(strings.ToUpper(header), mesh.TokenScheme+":"):
		scheme, rest = header[:len(mesh.TokenScheme)], header[len(mesh.TokenScheme)+1:]
		r.add("scheme", partFail, scheme, "NHSMESH must be followed by a space, not a colon")
	case found:
		r.add("scheme", partFail, printable(scheme, 20), "not NHSMESH: this is not a MESH token")
	default:
		rest = header
		r.add("scheme", partFail, "", "missing: the value must start with \"NHSMESH \"")
	}

	parts := strings.Split(rest, ":")
	names := []string{"mailbox", "nonce", "nonce count", "timestamp", "hmac"}
	if len(parts) != len(names) {
		for _, n := range names {
			r.add(n, partUnread, "", fmt.Sprintf("not read: want 5 colon-separated parts after NHSMESH, got %d", len(parts)))
		}
	} else {
		tok := mesh.Token{Mailbox: parts[0], Nonce: parts[1], NonceCount: parts[2], Timestamp: parts[3], HMAC: parts[4]}
		r.explainParts(tok, wantMailbox, password, sharedKey, now)
	}
	r.verdict(header, wantMailbox, password, sharedKey, now)
	return r
}

func (r *tokenReport) add(part, status, value, note string) {
	r.Parts = append(r.Parts, tokenPart{Part: part, Status: status, Value: value, Note: note})
}

func (r *tokenReport) explainParts(tok mesh.Token, wantMailbox, password, sharedKey string, now time.Time) {
	mb := tok.Mailbox
	switch {
	case mb == "":
		r.add("mailbox", partFail, "", "empty")
	case strings.ContainsAny(mb, " \t"):
		r.add("mailbox", partFail, printable(mb, 40), "contains white space")
	case mb != strings.ToUpper(mb):
		r.add("mailbox", partFail, mb, fmt.Sprintf("lower case: MESH refuses it (403); sign with %s", strings.ToUpper(mb)))
	case wantMailbox != "" && mb != wantMailbox:
		r.add("mailbox", partFail, mb, fmt.Sprintf("upper case, but the request is for %s", wantMailbox))
	default:
		r.add("mailbox", partOK, mb, "upper case")
	}

	if tok.Nonce == "" {
		r.add("nonce", partFail, "", "empty")
	} else {
		r.add("nonce", partOK, printable(tok.Nonce, 80), "MESH accepts each mailbox, nonce and count once: a fresh nonce (a GUID) per request")
	}

	if isDigits(tok.NonceCount) {
		r.add("nonce count", partOK, tok.NonceCount, "digits")
	} else {
		r.add("nonce count", partFail, printable(tok.NonceCount, 20), "must be digits only, e.g. 0")
	}

	when, err := time.Parse(mesh.TimestampLayout, tok.Timestamp)
	switch {
	case len(tok.Timestamp) != len(mesh.TimestampLayout) || !isDigits(tok.Timestamp):
		r.add("timestamp", partFail, printable(tok.Timestamp, 20), "must be 12 digits: UTC yyyyMMddHHmm")
	case err != nil:
		r.add("timestamp", partFail, tok.Timestamp, "not a real date and time (UTC yyyyMMddHHmm)")
	default:
		skew := when.Sub(now)
		status := partOK
		note := fmt.Sprintf("%s UTC, %s; MESH allows ±2h", when.Format("2006-01-02 15:04"), describeAge(skew))
		if skew > mesh.TokenWindow || skew < -mesh.TokenWindow {
			status = partFail
			note = fmt.Sprintf("%s UTC, %s: outside the ±2h MESH allows", when.Format("2006-01-02 15:04"), describeAge(skew))
		}
		if off := skew.Abs().Round(time.Minute); off >= 55*time.Minute && off <= 65*time.Minute {
			note += " (an hour off: is it local time, e.g. BST, instead of UTC?)"
		}
		r.add("timestamp", status, tok.Timestamp, note)
		tok.Time = when
	}

	switch {
	case len(tok.HMAC) != 64 || !isHexDigits(tok.HMAC):
		r.add("hmac", partFail, "", fmt.Sprintf("must be 64 hex digits (HMAC-SHA256), got %d characters", len(tok.HMAC)))
	case tok.Verify(password, sharedKey, now, 0) != nil:
		r.add("hmac", partFail, "", "does not match this mailbox password and shared key (or the parts above were changed after signing)")
	default:
		note := "matches the mailbox password and shared key"
		if tok.HMAC != strings.ToLower(tok.HMAC) {
			note += " (upper-case hex: NHS's clients write lower case)"
		}
		r.add("hmac", partOK, "", note)
	}
}

// verdict sets the overall result: the first structural fault from
// mesh.ParseToken, then the mailbox the request is for, then Token.Verify.
func (r *tokenReport) verdict(header, wantMailbox, password, sharedKey string, now time.Time) {
	tok, err := mesh.ParseToken(header)
	if err == nil && wantMailbox != "" && tok.Mailbox != wantMailbox {
		err = &mesh.TokenError{Fault: mesh.FaultMailbox, Detail: fmt.Sprintf("the token is for mailbox %s, the request for %s", tok.Mailbox, wantMailbox)}
	}
	if err == nil {
		err = tok.Verify(password, sharedKey, now, mesh.TokenWindow)
	}
	if err == nil {
		r.Valid = true
		r.Summary = fmt.Sprintf("valid: a token for %s, signed with this password and shared key, usable once until %s UTC",
			tok.Mailbox, tok.Time.Add(mesh.TokenWindow).Format("2006-01-02 15:04"))
		return
	}
	var te *mesh.TokenError
	if !errors.As(err, &te) {
		te = &mesh.TokenError{Detail: err.Error()}
	}
	r.Fault = te.Fault
	r.Summary = "invalid: " + faultSummary(te)
	r.Remediation = tokenFix[te.Fault]
	if te.Fault == mesh.FaultMailboxCase {
		r.Remediation = fmt.Sprintf("Sign with %s, the mailbox id in upper case: MESH refuses a lower-case id with 403. Fix the id in your client's configuration.",
			strings.ToUpper(mailboxOf(header)))
	}
}

// faultSummary is the one-line reason for a fault. The HMAC fault gets
// its own words: mesh's detail names only the two secrets, and a changed
// part is as likely.
func faultSummary(te *mesh.TokenError) string {
	switch te.Fault {
	case mesh.FaultHMAC:
		return "the HMAC does not match: wrong mailbox password, wrong shared key, or a different mailbox, nonce, count or timestamp than was signed"
	case mesh.FaultClock:
		return "the timestamp is outside the ±2 hours MESH allows"
	}
	return te.Detail
}

// mailboxOf is the mailbox part of a header that mesh.ParseToken refused.
func mailboxOf(header string) string {
	_, rest, _ := strings.Cut(header, " ")
	mb, _, _ := strings.Cut(rest, ":")
	return mb
}

func (r tokenReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "token: %s\n", r.Summary)
	for _, p := range r.Parts {
		status := map[string]string{partOK: "ok", partFail: "FAIL", partUnread: "-"}[p.Status]
		value := p.Value
		if value != "" {
			value += ": "
		}
		fmt.Fprintf(w, "  %-12s %-4s  %s%s\n", p.Part, status, value, p.Note)
	}
	if r.Remediation != "" {
		fmt.Fprintf(w, "what to do: %s\n", r.Remediation)
	}
}

// describeAge says when a timestamp is against now: "3m ago", "2h0m in the
// future". Whole minutes, counted down: the timestamp has minute precision.
func describeAge(skew time.Duration) string {
	d := skew.Abs().Truncate(time.Minute)
	s := strings.TrimSuffix(d.String(), "0s")
	if d < time.Minute {
		return "less than a minute from now"
	}
	if skew < 0 {
		return s + " ago"
	}
	return s + " in the future"
}

// printable shortens s and makes it safe on one line.
func printable(s string, n int) string {
	q := fmt.Sprintf("%q", s)
	q = q[1 : len(q)-1]
	if len(q) > n {
		q = q[:n] + "…"
	}
	return q
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func isHexDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == ""
}
