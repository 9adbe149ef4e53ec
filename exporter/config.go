package exporter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/meshdoctor/meshdoctor/internal/secretfile"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/reports"
)

// The modules a target can be probed with.
const (
	ModuleCheck     = "check"
	ModuleIdentity  = "identity"
	ModuleRoundTrip = "roundtrip"
)

// Modules are every module's name, in the order they are listed.
var Modules = []string{ModuleCheck, ModuleIdentity, ModuleRoundTrip}

// defaultModules are what a target may be probed with when it does not say:
// nothing is sent without the config asking for it.
var defaultModules = []string{ModuleCheck, ModuleIdentity}

// Config is the exporter's configuration file (YAML). Its shape is a public
// interface: it grows by adding.
type Config struct {
	Targets []TargetConfig `yaml:"targets"`
	Modules ModulesConfig  `yaml:"modules"`
}

// TargetConfig is one mailbox to watch: the fields of a --profile, secrets
// by reference only.
type TargetConfig struct {
	// Name is the value of ?target= and of the instance label.
	Name string `yaml:"name"`
	// Profile is a --profile file; the fields below override it.
	Profile   string `yaml:"profile"`
	Env       string `yaml:"env"`
	Route     string `yaml:"route"`
	URL       string `yaml:"url"`
	Mailbox   string `yaml:"mailbox"`
	Keystore  string `yaml:"keystore"`
	Alias     string `yaml:"alias"`
	Cert      string `yaml:"cert"`
	Key       string `yaml:"key"`
	CABundle  string `yaml:"ca_bundle"`
	Recipient string `yaml:"recipient"`
	Workflow  string `yaml:"workflow"`
	// Proxy is the HTTP proxy to reach MESH through (http://[user@]host:port),
	// or "none"; default the exporter's HTTPS_PROXY and NO_PROXY. ProxyUser
	// authenticates to it, with secrets.proxy_password.
	Proxy     string            `yaml:"proxy"`
	ProxyUser string            `yaml:"proxy_user"`
	Secrets   SecretsConfig     `yaml:"secrets"`
	Modules   []string          `yaml:"modules"`
	Labels    map[string]string `yaml:"labels"`
	// AllowLive lets the roundtrip module send a test message to live MESH.
	AllowLive bool `yaml:"allow_live"`
}

// SecretsConfig names where each secret is: never the secret itself.
type SecretsConfig struct {
	MailboxPassword  *SecretRef `yaml:"mailbox_password"`
	SharedKey        *SecretRef `yaml:"shared_key"`
	KeystorePassword *SecretRef `yaml:"keystore_password"`
	ProxyPassword    *SecretRef `yaml:"proxy_password"`
}

// SecretRef is {env: NAME} or {file: PATH}.
type SecretRef struct {
	Env  string
	File string
}

// ErrInlineSecret is the refusal of a secret written into the config.
var ErrInlineSecret = errors.New("an inline secret is refused: give {env: NAME} or {file: PATH}")

// UnmarshalYAML takes only a mapping with exactly one of env or file. A
// scalar is a secret written inline: refused without echoing it.
func (s *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %w", n.Line, ErrInlineSecret)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: want a name or a path", v.Line, k.Value)
		}
		switch k.Value {
		case "env":
			s.Env = v.Value
		case "file":
			s.File = v.Value
		default:
			return fmt.Errorf("line %d: unknown field %q in a secret reference (want env or file)", k.Line, k.Value)
		}
	}
	if (s.Env == "") == (s.File == "") {
		return fmt.Errorf("line %d: a secret reference names exactly one of env or file", n.Line)
	}
	return nil
}

// ModulesConfig are the modules' settings.
type ModulesConfig struct {
	Check     ModuleConfig    `yaml:"check"`
	Identity  ModuleConfig    `yaml:"identity"`
	RoundTrip RoundTripConfig `yaml:"roundtrip"`
}

// ModuleConfig bounds a module's probe; the scrape's own timeout (less a
// margin) bounds it too.
type ModuleConfig struct {
	Timeout Duration `yaml:"timeout"`
}

// RoundTripConfig is the roundtrip module's settings.
type RoundTripConfig struct {
	Timeout Duration `yaml:"timeout"`
	// MinInterval is the least time between two round trips to one target,
	// whatever the scrape interval; between, the last result is served.
	MinInterval Duration `yaml:"min_interval"`
	// Size is the test message's size in bytes.
	Size int64 `yaml:"size"`
}

// Module defaults.
const (
	defaultCheckTimeout     = 30 * time.Second
	defaultIdentityTimeout  = 10 * time.Second
	defaultRoundTripTimeout = 2 * time.Minute
	defaultMinInterval      = 15 * time.Minute
	defaultRoundTripSize    = 4 << 10
	maxRoundTripSize        = 100 << 20
)

// Duration is a YAML duration in Prometheus's format (30s, 15m, 1h, 1d).
type Duration time.Duration

// UnmarshalYAML parses a Prometheus duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30s, 15m, 1h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Target is a configured target, resolved: secrets read, paths absolute.
type Target struct {
	Name    string
	Mesh    mesh.Target
	Modules []string
	// Labels are the SD labels: environment, route, mailbox, organisation
	// (when given) and the config's own.
	Labels    map[string]string
	AllowLive bool
	// Sources say where each setting came from, for the report.
	Sources map[string]string

	redactOnce sync.Once
	redactor   *reports.Redactor
}

// Redact removes the target's secrets from s, as its reports do.
func (t *Target) Redact(s string) string {
	t.redactOnce.Do(func() {
		run := reports.Run{Tool: reports.NewTool(), Target: reports.NewTarget(t.Mesh, t.Sources)}
		t.redactor = run.Redactor()
	})
	return t.redactor.String(s)
}

// Allows reports whether the target may be probed with module.
func (t *Target) Allows(module string) bool { return slices.Contains(t.Modules, module) }

// Loaded is a configuration read and checked: what the exporter serves.
type Loaded struct {
	Targets   []*Target
	byName    map[string]*Target
	Modules   ModulesConfig
	RoundTrip RoundTripConfig
}

// Target finds a target by name.
func (l *Loaded) Target(name string) (*Target, bool) {
	t, ok := l.byName[name]
	return t, ok
}

// Names are the targets' names, in the config's order.
func (l *Loaded) Names() []string {
	out := make([]string, len(l.Targets))
	for i, t := range l.Targets {
		out[i] = t.Name
	}
	return out
}

// ConfigError is a configuration that cannot be served; the message is one
// line and holds no secret.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config %s: %v", e.Path, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// maxConfigBytes bounds the config file: a thousand targets fit many times.
const maxConfigBytes = 16 << 20

// LoadFile reads, parses and checks the config at path. Secrets are read
// through getenv and from the files the config names. Every error is a
// *ConfigError.
func LoadFile(path string, getenv func(string) string) (*Loaded, error) {
	data, err := mesh.ReadSmallFile(path, maxConfigBytes)
	if err != nil {
		return nil, &ConfigError{path, err}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &ConfigError{path, err}
	}
	l, err := Parse(data, dir, getenv)
	if err != nil {
		return nil, &ConfigError{path, err}
	}
	return l, nil
}

// yamlValue is what yaml's messages quote of a value: `…`; yamlType the Go
// type they name, which says nothing to whoever wrote the file.
var (
	yamlValue = regexp.MustCompile("`[^`]*`")
	yamlType  = regexp.MustCompile(` (in|into) (type )?[\w.\[\]*]+`)
)

// Parse checks a config; relative paths are taken from dir.
func Parse(data []byte, dir string, getenv func(string) string) (*Loaded, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		// yaml quotes the value it could not take: that value may be a
		// secret put where it does not belong, so it is not repeated.
		msg := yamlType.ReplaceAllString(yamlValue.ReplaceAllString(err.Error(), "a value"), "")
		return nil, errors.New(strings.Join(strings.Fields(strings.TrimPrefix(msg, "yaml: ")), " "))
	}
	if len(c.Targets) == 0 {
		return nil, errors.New("no targets: the config lists the mailboxes to watch under targets:")
	}
	l := &Loaded{byName: map[string]*Target{}, Modules: c.Modules}
	rt := c.Modules.RoundTrip
	if rt.MinInterval == 0 {
		rt.MinInterval = Duration(defaultMinInterval)
	}
	if rt.Timeout == 0 {
		rt.Timeout = Duration(defaultRoundTripTimeout)
	}
	switch {
	case rt.Size == 0:
		rt.Size = defaultRoundTripSize
	case rt.Size < 0 || rt.Size > maxRoundTripSize:
		return nil, fmt.Errorf("modules.roundtrip.size %d: want 1 to %d bytes", rt.Size, maxRoundTripSize)
	}
	if l.Modules.Check.Timeout == 0 {
		l.Modules.Check.Timeout = Duration(defaultCheckTimeout)
	}
	if l.Modules.Identity.Timeout == 0 {
		l.Modules.Identity.Timeout = Duration(defaultIdentityTimeout)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"check.timeout", l.Modules.Check.Timeout}, {"identity.timeout", l.Modules.Identity.Timeout}, {"roundtrip.timeout", rt.Timeout}, {"roundtrip.min_interval", rt.MinInterval}} {
		if d.v < 0 {
			return nil, fmt.Errorf("modules.%s: must be positive", d.name)
		}
	}
	l.Modules.RoundTrip, l.RoundTrip = rt, rt
	for i, tc := range c.Targets {
		t, err := resolveTarget(tc, dir, getenv)
		if err != nil {
			name := tc.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("target %s: %w", name, err)
		}
		if _, dup := l.byName[t.Name]; dup {
			return nil, fmt.Errorf("target %s: the name is used twice (each target needs its own)", t.Name)
		}
		l.byName[t.Name] = t
		l.Targets = append(l.Targets, t)
	}
	return l, nil
}

// targetName is what a target may be called: it goes into URLs and labels.
var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// labelName is a Prometheus label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func resolveTarget(tc TargetConfig, dir string, getenv func(string) string) (*Target, error) {
	if !targetName.MatchString(tc.Name) {
		return nil, fmt.Errorf("name %q: want letters, digits, '.', '_' or '-' (it goes into URLs and labels)", tc.Name)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var t mesh.Target
	sources := map[string]string{}
	if tc.Profile != "" {
		p, err := mesh.LoadProfile(abs(tc.Profile))
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		t = p
		for _, name := range t.SetFields() {
			sources[name] = "profile " + tc.Profile
		}
	}
	set := func(dst *string, v, name string) {
		if v != "" {
			*dst, sources[name] = v, "exporter config"
		}
	}
	set(&t.URL, tc.URL, "url")
	set(&t.Credentials.Mailbox, strings.TrimSpace(tc.Mailbox), "mailbox")
	set(&t.Recipient, tc.Recipient, "recipient")
	set(&t.Workflow, tc.Workflow, "workflow")
	set(&t.Keystore, abs(tc.Keystore), "keystore")
	set(&t.Alias, tc.Alias, "alias")
	set(&t.CertFile, abs(tc.Cert), "client_cert")
	set(&t.KeyFile, abs(tc.Key), "client_key")
	set(&t.CABundle, abs(tc.CABundle), "ca_bundle")
	if tc.Env != "" {
		e, err := mesh.ParseEnvironment(tc.Env)
		if err != nil {
			return nil, fmt.Errorf("env: %w", err)
		}
		t.Environment = e
	}
	if tc.Route != "" {
		r, err := mesh.ParseRoute(tc.Route)
		if err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
		t.Route = r
	}
	if t.Keystore != "" && (t.CertFile != "" || t.KeyFile != "") {
		return nil, errors.New("give either a keystore or a cert and key, not both")
	}
	switch p := strings.TrimSpace(tc.Proxy); strings.ToLower(p) {
	case "":
	case "none", "direct":
		t.Proxy, sources["proxy"] = mesh.ProxySettings{Direct: true, Source: "exporter config"}, "exporter config"
	default:
		if mesh.ProxyCarriesPassword(p) {
			return nil, errors.New("proxy: carries a password: give it as secrets.proxy_password ({env: NAME} or {file: PATH})")
		}
		if _, err := mesh.ParseProxy(p, "proxy"); err != nil {
			return nil, err
		}
		t.Proxy, sources["proxy"] = mesh.ProxySettings{URL: p, Source: "exporter config"}, "exporter config"
	}
	t.Proxy.Env = mesh.ReadProxyEnv(getenv)
	set(&t.Proxy.User, tc.ProxyUser, "proxy_user")
	if _, err := t.BaseURL(); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		ref       *SecretRef
		dst       *string
		key, name string // the config's key; the report's source name
	}{
		{tc.Secrets.MailboxPassword, &t.Credentials.Password, "mailbox_password", "password"},
		{tc.Secrets.SharedKey, &t.Credentials.SharedKey, "shared_key", "shared_key"},
		{tc.Secrets.KeystorePassword, &t.KeystorePassword, "keystore_password", "keystore_password"},
		{tc.Secrets.ProxyPassword, &t.Proxy.Password, "proxy_password", "proxy_password"},
	} {
		if s.ref == nil {
			continue
		}
		v, from, err := s.ref.read(abs, getenv)
		if err != nil {
			return nil, fmt.Errorf("secrets.%s: %w", s.key, err)
		}
		*s.dst, sources[s.name] = v, from
	}
	if t.Keystore != "" && t.KeystorePassword == "" {
		if pw, ok := t.Environment.KeystorePassword(); ok {
			t.KeystorePassword = pw
			sources["keystore_password"] = "PTL default for " + string(t.Environment)
		}
	}
	t.Recipient = strings.ToUpper(strings.TrimSpace(t.Recipient))
	if t.Recipient == "" {
		t.Recipient = strings.ToUpper(t.Credentials.Mailbox)
	}
	out := &Target{Name: tc.Name, Mesh: t, AllowLive: tc.AllowLive, Sources: sources}
	out.Modules = tc.Modules
	if out.Modules == nil {
		out.Modules = defaultModules
	}
	for _, m := range out.Modules {
		if !slices.Contains(Modules, m) {
			return nil, fmt.Errorf("modules: unknown module %q (modules: %s)", m, strings.Join(Modules, ", "))
		}
	}
	if out.Allows(ModuleRoundTrip) {
		switch {
		case t.IsLive() && !tc.AllowLive:
			return nil, errors.New("modules: roundtrip sends a test message, and this target is live MESH: add allow_live: true if you mean it")
		case t.Workflow == "":
			return nil, errors.New("modules: roundtrip needs a workflow to send its test message on (workflow:)")
		}
	}
	if slices.ContainsFunc(out.Modules, func(m string) bool { return m != ModuleIdentity }) {
		// Every module but identity signs requests.
		switch {
		case t.Credentials.Mailbox == "":
			return nil, errors.New("no mailbox (mailbox:)")
		case t.Credentials.Password == "":
			return nil, errors.New("no mailbox password (secrets: mailbox_password: {env: NAME})")
		case t.Credentials.SharedKey == "":
			return nil, errors.New("no shared key (secrets: shared_key: {env: NAME})")
		}
	}
	out.Labels = map[string]string{}
	for k, v := range map[string]string{"environment": string(t.Environment), "route": string(t.Route), "mailbox": strings.ToUpper(t.Credentials.Mailbox)} {
		if v != "" {
			out.Labels[k] = v
		}
	}
	if t.URL != "" && t.Environment == "" {
		out.Labels["environment"] = "custom"
	} else if t.URL == "" && t.Route == "" {
		// The route taken when none is given: a dashboard filtering on
		// route="internet" must find these targets too.
		out.Labels["route"] = string(mesh.Internet)
	}
	keys := make([]string, 0, len(tc.Labels))
	for k := range tc.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
			return nil, fmt.Errorf("labels: %q is not a label name Prometheus takes (letters, digits, '_'; not starting with __)", k)
		}
		if k == "job" || k == "instance" {
			// Given by /sd they would replace the scrape's own: the job
			// the shipped rules select (job=~"meshdoctor.*"), the instance
			// that is the target's name.
			return nil, fmt.Errorf("labels: %q is refused: Prometheus sets %s (the job from the scrape config, the instance from the target's name)", k, k)
		}
		out.Labels[k] = tc.Labels[k]
	}
	return out, nil
}

// maxSecretFile bounds a secret read from a file.
const maxSecretFile = 64 << 10

// read returns the secret and where it came from (never the value).
func (s *SecretRef) read(abs func(string) string, getenv func(string) string) (value, from string, err error) {
	if s.Env != "" {
		v := getenv(s.Env)
		if v == "" {
			return "", "", fmt.Errorf("the environment variable %s is not set", s.Env)
		}
		return v, "env " + s.Env, nil
	}
	path := abs(s.File)
	b, err := mesh.ReadSmallFile(path, maxSecretFile)
	if err != nil {
		return "", "", fmt.Errorf("file %s: %w", path, err)
	}
	v, err := secretfile.Text(b)
	if err != nil {
		return "", "", fmt.Errorf("file %s %w", path, err)
	}
	if v == "" {
		return "", "", fmt.Errorf("file %s is empty", path)
	}
	return v, "file " + path, nil
}
