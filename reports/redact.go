package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"github.com/meshdoctor/meshdoctor/checks"
	"html"
	"html/template"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces a secret in everything meshdoctor writes.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest secret value that is replaced wherever it
// appears: a shorter one would mangle ordinary words (and is no real secret).
// Private keys and token HMACs are recognised by their shape, at any length.
//
// Secrets that are ordinary words are guarded by three rules, not by a
// longer minimum: a minimum of 8 would print a real 4 to 7 character
// keystore password wherever it leaked, while a word of 8 or more letters
// ("password", "meshdoctor", "keystore") would still blank prose.
//   - Published values are no secret at all (model.go publishedValue: NHS's
//     sandbox credentials, the embedded sandbox's keystore password).
//   - A secret made of letters only (a word) is replaced where it stands as
//     a whole word, never inside a longer word: real MESH passwords and
//     shared keys are not dictionary words (they have digits or symbols and
//     are replaced wherever they appear), so this only spares prose.
//   - The tool's fixed fields (name, version, OS, architecture) are never
//     replaced: they are in every report by design, so hiding them hides
//     nothing (a secret that contains one is still replaced whole).
const MinSecretLen = 4

// Redactor removes secrets from rendered output. Every writer in this package
// passes its whole output through one, so a secret that slipped into a
// check's evidence, a server's answer or an error message is still never
// shown. It removes:
//   - the secret values it was made with (mailbox password, shared key,
//     keystore password), as they are and as JSON, XML, HTML and URL
//     encoding would write them;
//   - PEM private key blocks, whatever key they hold;
//   - the HMAC part of any NHSMESH token (the mailbox, nonce, count and time
//     stay: they are what a reader needs to diagnose a token).
//
// A nil *Redactor still removes keys and HMACs.
type Redactor struct {
	// forms are the encoded forms of the secrets, longest first, so that
	// a secret containing another is replaced whole.
	forms []form
	// keep are words never replaced (the tool's fixed fields), and outer
	// the forms that contain one of them, replaced before keep is set aside.
	keep  []string
	outer []form
}

// form is one encoded form of a secret; word when the secret is letters
// only, replaced only as a whole word.
type form struct {
	s    string
	word bool
}

// NewRedactor returns a redactor for these secret values. Empty and short
// values (see MinSecretLen) are ignored.
func NewRedactor(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var forms []form
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			continue
		}
		word := isWord(s)
		for _, f := range encodings(s) {
			if f != "" && !seen[f] {
				seen[f] = true
				forms = append(forms, form{f, word})
			}
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i].s) > len(forms[j].s) })
	return &Redactor{forms: forms}
}

// keeping returns a copy of r that never replaces these words (where they
// stand as whole words): the tool's fixed fields. Forms that contain one of
// them are replaced first, so a secret is never split by a kept word.
func (r *Redactor) keeping(words ...string) *Redactor {
	c := &Redactor{}
	for _, w := range words {
		if len(w) >= MinSecretLen && !slices.Contains(c.keep, w) {
			c.keep = append(c.keep, w)
		}
	}
	sort.SliceStable(c.keep, func(i, j int) bool { return len(c.keep[i]) > len(c.keep[j]) })
	for _, f := range r.forms {
		outer := false
		for _, w := range c.keep {
			outer = outer || (len(f.s) > len(w) && strings.Contains(f.s, w))
		}
		if outer {
			c.outer = append(c.outer, f)
		} else {
			c.forms = append(c.forms, f)
		}
	}
	return c
}

// isWord reports whether s is letters only: a word, not a generated secret.
func isWord(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

// isWordRune is a rune that continues a word.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// replace replaces every occurrence of f in s with repl; a word form only
// where it is not part of a longer word.
func replace(s string, f form, repl string) string {
	if !f.word {
		return strings.ReplaceAll(s, f.s, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, f.s)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(f.s)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		b.WriteString(s[:i])
		if (i > 0 && isWordRune(before)) || (end < len(s) && isWordRune(after)) {
			b.WriteString(f.s)
		} else {
			b.WriteString(repl)
		}
		s = s[end:]
	}
}

// keepOpen and keepClose bracket the index of a kept word while secrets are replaced:
// private-use runes, which no secret or format produces.
const keepOpen, keepClose = "\ue000", "\ue001"

// encodings are the ways a value may be written by the formats meshdoctor
// renders, and by servers that echo it back.
func encodings(s string) []string {
	out := []string{s}
	if q, err := json.Marshal(s); err == nil { // escapes <, >, & too
		out = append(out, string(q[1:len(q)-1]))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		q := strings.TrimSpace(b.String())
		out = append(out, q[1:len(q)-1])
	}
	var x strings.Builder
	_ = xml.EscapeText(&x, []byte(s))
	out = append(out, x.String(), html.EscapeString(s), template.HTMLEscapeString(s),
		url.QueryEscape(s), url.PathEscape(s))
	return out
}

// pemPrivateKey matches a PEM private key block of any type, and one cut
// short (no END line) to the end of the text. Line breaks may be real or
// escaped (JSON "\n", XML "&#xA;").
var pemPrivateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)

// Bytes returns b without secrets. b is not modified.
func (r *Redactor) Bytes(b []byte) []byte {
	return []byte(r.String(string(b)))
}

// String returns s without secrets.
func (r *Redactor) String(s string) string {
	if r != nil {
		for _, f := range r.outer {
			s = replace(s, f, Redacted)
		}
		for i, w := range r.keep {
			s = replace(s, form{w, true}, keepOpen+strconv.Itoa(i)+keepClose)
		}
		for _, f := range r.forms {
			s = replace(s, f, Redacted)
		}
		for i, w := range r.keep {
			s = strings.ReplaceAll(s, keepOpen+strconv.Itoa(i)+keepClose, w)
		}
	}
	s = pemPrivateKey.ReplaceAllString(s, "[REDACTED PRIVATE KEY]")
	return redactTokens(s)
}

// tokenScheme starts an NHSMESH Authorization value.
const tokenScheme = "NHSMESH"

// redactTokens replaces the last colon-separated part of every NHSMESH token
// (the HMAC) with Redacted. Placeholders such as "<HMAC-SHA256>", in any
// escaping, are left as they are: they hide nothing.
func redactTokens(s string) string {
	upper := strings.ToUpper(s)
	if !strings.Contains(upper, tokenScheme) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(upper, tokenScheme)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(tokenScheme)
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		start := j
		for j < len(s) && !tokenEnd(s[j]) {
			j++
		}
		b.WriteString(s[:start])
		value := s[start:j]
		if k := strings.LastIndexByte(value, ':'); k >= 0 && !placeholder(value[k+1:]) {
			value = value[:k+1] + Redacted
		}
		b.WriteString(value)
		s, upper = s[j:], upper[j:]
	}
}

// tokenEnd ends a token value: whitespace, quotes and markup. '&', ';'
// and '\' are not ends: escaped placeholders ("&lt;HMAC&gt;") contain them.
func tokenEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', ',':
		return true
	}
	return false
}

// placeholder reports whether an HMAC part hides nothing: empty, already
// redacted, or a "<...>" placeholder in plain, JSON or HTML escaping.
func placeholder(hmac string) bool {
	if hmac == "" || strings.HasPrefix(hmac, "[REDACTED") {
		return true
	}
	for _, open := range []string{"<", `\u003c`, "&lt;", "&#60;", "&#x3C;"} {
		if strings.HasPrefix(hmac, open) {
			return true
		}
	}
	return false
}

// Writer returns a writer that redacts what passes through it, line by
// line (a secret never spans lines), for logs and streams. Close flushes
// the last, unterminated line.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return &redactingWriter{r: r, w: w}
}

type redactingWriter struct {
	mu  sync.Mutex
	r   *Redactor
	w   io.Writer
	buf []byte
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = append(rw.buf, p...)
	// A private key spans lines: hold everything from an unfinished BEGIN.
	if i := bytes.LastIndex(rw.buf, []byte("-----BEGIN ")); i >= 0 && !bytes.Contains(rw.buf[i:], []byte("-----END ")) {
		if _, err := rw.flushUpTo(i); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if i := bytes.LastIndexByte(rw.buf, '\n'); i >= 0 {
		if _, err := rw.flushUpTo(i + 1); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flushUpTo writes complete lines of buf[:n], redacted, and keeps the rest.
func (rw *redactingWriter) flushUpTo(n int) (int, error) {
	if j := bytes.LastIndexByte(rw.buf[:n], '\n'); j >= 0 {
		n = j + 1
	} else {
		return 0, nil
	}
	out := rw.r.Bytes(rw.buf[:n])
	rw.buf = append(rw.buf[:0], rw.buf[n:]...)
	return rw.w.Write(out)
}

func (rw *redactingWriter) Close() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.buf) == 0 {
		return nil
	}
	out := rw.r.Bytes(rw.buf)
	rw.buf = rw.buf[:0]
	_, err := rw.w.Write(out)
	return err
}

// render is the one path every writer of this package takes. It removes the
// run's secrets twice: from every text of the run before build formats it
// (so no escaping or quoting can hide a secret from the redactor), and from
// the whole document build wrote, in memory, before anything reaches w.
func render(w io.Writer, r *Run, build func(*Run, *bytes.Buffer) error) error {
	rd := r.Redactor()
	var b bytes.Buffer
	if err := build(r.redacted(rd), &b); err != nil {
		return err
	}
	_, err := w.Write(rd.Bytes(b.Bytes()))
	return err
}

// redacted is a copy of the run with rd applied to each of its texts.
func (r *Run) redacted(rd *Redactor) *Run {
	return r.mapTexts(rd.String)
}

// mapTexts is a copy of the run with fn applied to each of its texts: the
// target's, the checks' and the conformance results'.
func (r *Run) mapTexts(fn func(string) string) *Run {
	c := *r
	t := &c.Target
	for _, s := range []*string{&t.URL, &t.BaseURL, &t.Proxy, &t.Mailbox, &t.Recipient, &t.Workflow, &t.Keystore, &t.ClientCert, &t.ClientKey, &t.CABundle} {
		*s = fn(*s)
	}
	c.Checks = make([]checks.Result, len(r.Checks))
	for i, res := range r.Checks {
		res.Title, res.Summary, res.Remediation = fn(res.Title), fn(res.Summary), fn(res.Remediation)
		ev := make(checks.Evidence, len(res.Evidence))
		for j, f := range res.Evidence {
			ev[j] = checks.Fact{Key: fn(f.Key), Value: fn(f.Value)}
		}
		if res.Evidence == nil {
			ev = nil
		}
		res.Evidence = ev
		c.Checks[i] = res
	}
	mapConformanceTexts(&c, fn)
	return &c
}

// printable shows control characters (other than line breaks and tabs) as
// \xNN, so that text from a server cannot move a terminal's cursor, change
// its title or hide in a page.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0))
}
