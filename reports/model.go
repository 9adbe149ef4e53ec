package reports

import (
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/suites"
)

// Schema is the version of the JSON document. Members are only ever added.
const Schema = 1

// Run is one run of meshdoctor, as every report shows it.
type Run struct {
	Schema  int       `json:"schema"`
	Tool    Tool      `json:"tool"`
	Command string    `json:"command"`
	Target  Target    `json:"target"`
	Started time.Time `json:"started"`
	// Duration is the wall time of the run.
	Duration time.Duration   `json:"-"`
	Checks   []checks.Result `json:"checks"`
	// Conformance is the result of the conformance suites, when they ran.
	Conformance *suites.Report `json:"conformance,omitempty"`
	Summary     Summary        `json:"summary"`
}

// Tool is the meshdoctor that made the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// NewTool describes this build.
func NewTool(version string) Tool {
	return Tool{Name: "meshdoctor", Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// Target is what was checked, without secrets: where each secret came from
// is in Sources, never its value.
type Target struct {
	Environment string `json:"environment,omitempty"`
	Route       string `json:"route,omitempty"`
	URL         string `json:"url,omitempty"`
	BaseURL     string `json:"base_url,omitempty"`
	Live        bool   `json:"live"`
	Mailbox     string `json:"mailbox,omitempty"`
	Recipient   string `json:"recipient,omitempty"`
	Workflow    string `json:"workflow,omitempty"`
	Keystore    string `json:"keystore,omitempty"`
	ClientCert  string `json:"client_cert,omitempty"`
	ClientKey   string `json:"client_key,omitempty"`
	CABundle    string `json:"ca_bundle,omitempty"`
	// Proxy is the route to MESH: "direct (…)" or "through the proxy
	// http://user@host:port (HTTPS_PROXY)"; never a password.
	Proxy string `json:"proxy,omitempty"`
	// Sources maps a setting's name to where it came from
	// ("password": "MESH_MAILBOX_PASSWORD").
	Sources map[string]string `json:"sources,omitempty"`
	Sandbox bool              `json:"sandbox,omitempty"`

	// secrets are the values every writer removes; never rendered.
	secrets []string
	// certs are the client and CA certificates, read while the files exist
	// (a sandbox's files are gone when the report is written).
	certs []CertificateInfo
}

// publishedSource reports whether a setting came from a value that is
// published, not secret (the embedded sandbox's credentials, a path-to-live
// environment's keystore password): hiding it would only mangle the report
// (the sandbox's keystore password is "meshdoctor").
func publishedSource(from string) bool {
	return from == "embedded sandbox" || strings.HasPrefix(from, "PTL default")
}

// publishedValue are the credentials of NHS's public mesh-sandbox (its
// mailboxes' password and its shared keys, mesh-api.md §2.3) and the
// embedded sandbox's keystore password "meshdoctor" (sandbox.KeystorePassword,
// printed by 'meshdoctor sandbox'; written here as a literal because reports
// does not import sandbox): whoever uses them is testing against a sandbox,
// and hiding "password" or "meshdoctor" would blank the word (and the
// product's name) out of every sentence that says it. They are published
// however they reach meshdoctor: a profile, an environment variable.
var publishedValue = map[string]bool{"password": true, "TestKey": true, "Banana": true, "meshdoctor": true}

// NewTarget describes t for a report. It copies no secret.
func NewTarget(t mesh.Target, sources map[string]string) Target {
	out := Target{
		Environment: string(t.Environment),
		Route:       string(t.Route),
		URL:         t.URL,
		Live:        t.IsLive(),
		Mailbox:     t.Credentials.Mailbox,
		Recipient:   t.Recipient,
		Workflow:    t.Workflow,
		Keystore:    t.Keystore,
		ClientCert:  t.CertFile,
		ClientKey:   t.KeyFile,
		CABundle:    t.CABundle,
		Sources:     sources,
	}
	if base, err := t.BaseURL(); err == nil {
		out.BaseURL = base
		if r, err := t.Proxy.RouteTo(base); err == nil {
			out.Proxy = r.Describe()
		} else {
			out.Proxy = err.Error() // names the variable, never its value
		}
	}
	for name, value := range map[string]string{
		"password": t.Credentials.Password, "shared_key": t.Credentials.SharedKey, "keystore_password": t.KeystorePassword,
	} {
		if value != "" && !publishedSource(sources[name]) && !publishedValue[value] {
			out.secrets = append(out.secrets, value)
		}
	}
	// A password in the URL itself (https://user:secret@host) is a secret too.
	if u, err := url.Parse(t.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out.secrets = append(out.secrets, pw)
		}
	}
	// The proxy's password, and any proxy value carrying user information
	// (whole, and its likely password when it does not parse).
	out.secrets = append(out.secrets, t.Proxy.Secrets()...)
	sort.Strings(out.secrets)
	out.certs = readCertificates(t)
	return out
}

// Redactor removes this run's secrets (and any private key or token HMAC)
// from text. Every writer of this package goes through it; commands use it
// for anything else they write.
func (r *Run) Redactor() *Redactor {
	// The tool's fixed fields, and its name in the writers' own words
	// ("meshdoctor checks"), are never redacted: see MinSecretLen.
	return NewRedactor(r.Target.secrets...).keeping("meshdoctor", r.Tool.Name, r.Tool.Version, r.Tool.OS, r.Tool.Arch)
}

// Summary is the run's verdict.
type Summary struct {
	checks.Summary
	// OK is true when nothing failed or errored (warnings allowed): exit 0.
	OK bool `json:"ok"`
}

// Finish sets the summary from the results and the duration from started.
// Set Conformance first: its verdict is part of the run's.
func (r *Run) Finish(now time.Time) {
	s := checks.Summarize(r.Checks)
	r.Summary = Summary{Summary: s, OK: s.OK()}
	if r.Conformance != nil {
		// A run with conformance passes only if the specs do too (at
		// least one passed, none failed).
		r.Summary.OK = r.Summary.OK && r.Conformance.Summary.OK
	}
	r.Duration = now.Sub(r.Started)
}
