package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/meshdoctor/meshdoctor/internal/secretfile"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/prober"
)

// targetFlags say where MESH is and who is calling. Secrets have no flags:
// a flag shows up in `ps` and in shell history.
type targetFlags struct {
	profile, env, route, url, mailbox string
	recipient, workflow               string
	keystore, cert, key, caBundle     string
	alias                             string
	allowLive                         bool
	proxy                             string
	noProxy                           bool
}

const targetEnvHelp = `Configuration: flags, then environment variables, then --profile, then the
environment's defaults. Secrets come only from the environment (or a file named by the
*_FILE variant): MESH_MAILBOX_PASSWORD, MESH_SHARED_KEY, MESH_KEYSTORE_PASSWORD,
MESH_PROXY_PASSWORD.
Other variables: MESH_PROFILE, MESH_ENV, MESH_ROUTE, MESH_URL, MESH_MAILBOX_ID,
MESH_RECIPIENT, MESH_WORKFLOW_ID, MESH_KEYSTORE, MESH_KEYSTORE_ALIAS, MESH_CLIENT_CERT,
MESH_CLIENT_KEY, MESH_CA_BUNDLE, MESH_PROXY_USER. With no keystore password, a path-to-live
environment's published keystore password is tried.
Proxy: HTTPS_PROXY (or https_proxy) and NO_PROXY, read as Go and curl read them (HTTP_PROXY
alone does not apply to https); --proxy and --no-proxy override them. A proxy asking for
authentication gets NTLM or Basic with MESH_PROXY_USER (DOMAIN\user) and MESH_PROXY_PASSWORD.`

func (f *targetFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.profile, "profile", "", "profile file (JSON), e.g. the profile.json that 'meshdoctor sandbox --pki-dir' writes")
	fl.StringVar(&f.env, "env", "", "MESH environment: int, dev, dep, train or live")
	fl.StringVar(&f.route, "route", "", "network route: internet (default) or hscn")
	fl.StringVar(&f.url, "url", "", "MESH base URL, instead of --env/--route (e.g. https://localhost:8700)")
	fl.StringVar(&f.mailbox, "mailbox", "", "your mailbox id, e.g. X26ABC1")
	fl.StringVar(&f.recipient, "recipient", "", "mailbox to send to (default: your own)")
	fl.StringVar(&f.workflow, "workflow", "", "workflow id to send on")
	fl.StringVar(&f.keystore, "keystore", "", "client keystore: PKCS#12, JKS or PEM (found by content)")
	fl.StringVar(&f.alias, "alias", "", "keystore entry to use when the keystore holds several keys")
	fl.StringVar(&f.cert, "cert", "", "client certificate (PEM), with --key")
	fl.StringVar(&f.key, "key", "", "client private key (PEM)")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of the Spine root and sub-CA certificates to trust")
	fl.BoolVar(&f.allowLive, "allow-live", false, "allow sending real messages to the live service")
	fl.StringVar(&f.proxy, "proxy", "", "HTTP proxy to reach MESH through, instead of HTTPS_PROXY (http://[user@]host:port; the password only from MESH_PROXY_PASSWORD)")
	fl.BoolVar(&f.noProxy, "no-proxy", false, "connect to MESH directly, whatever HTTPS_PROXY says")
}

// resolveTarget layers flags over environment variables over the profile.
func (a *app) resolveTarget(f targetFlags) (mesh.Target, error) {
	t, _, err := a.resolveTargetSources(f)
	return t, err
}

// resolveTargetSources is resolveTarget that also says where each setting
// came from ("mailbox" → "--mailbox", "password" → "MESH_MAILBOX_PASSWORD"),
// for the evidence of the checks. It never records a value.
func (a *app) resolveTargetSources(f targetFlags) (mesh.Target, map[string]string, error) {
	var t mesh.Target
	sources := map[string]string{}
	profile := first(f.profile, a.getenv("MESH_PROFILE"))
	if profile != "" {
		p, err := mesh.LoadProfile(profile)
		if err != nil {
			return t, nil, usageError{err}
		}
		t = p
		for _, name := range t.SetFields() {
			sources[name] = "profile " + profile
		}
	}
	set := func(dst *string, flag, envName string) {
		name := strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(envName, "_ID"), "MESH_"))
		switch {
		case flag != "":
			*dst = flag
			sources[name] = "command line"
		case a.getenv(envName) != "":
			*dst = a.getenv(envName)
			sources[name] = envName
		}
	}
	var env, route string
	set(&env, f.env, "MESH_ENV")
	set(&route, f.route, "MESH_ROUTE")
	set(&t.URL, f.url, "MESH_URL")
	set(&t.Credentials.Mailbox, f.mailbox, "MESH_MAILBOX_ID")
	set(&t.Recipient, f.recipient, "MESH_RECIPIENT")
	set(&t.Workflow, f.workflow, "MESH_WORKFLOW_ID")
	set(&t.Keystore, f.keystore, "MESH_KEYSTORE")
	set(&t.CertFile, f.cert, "MESH_CLIENT_CERT")
	set(&t.KeyFile, f.key, "MESH_CLIENT_KEY")
	set(&t.CABundle, f.caBundle, "MESH_CA_BUNDLE")
	set(&t.Alias, f.alias, "MESH_KEYSTORE_ALIAS")
	if env != "" {
		e, err := mesh.ParseEnvironment(env)
		if err != nil {
			return t, nil, usageError{err}
		}
		t.Environment = e
	}
	if route != "" {
		r, err := mesh.ParseRoute(route)
		if err != nil {
			return t, nil, usageError{err}
		}
		t.Route = r
	}
	for _, s := range []struct {
		dst        *string
		name, what string
	}{
		{&t.Credentials.Password, "MESH_MAILBOX_PASSWORD", "password"},
		{&t.Credentials.SharedKey, "MESH_SHARED_KEY", "shared_key"},
		{&t.KeystorePassword, "MESH_KEYSTORE_PASSWORD", "keystore_password"},
	} {
		v, from, err := a.secretFrom(s.name)
		if err != nil {
			return t, nil, usageError{err}
		}
		if v != "" {
			*s.dst = v
			sources[s.what] = from
		}
	}
	if err := a.resolveProxy(f, &t, sources); err != nil {
		return t, nil, err
	}
	if t.Keystore != "" && t.KeystorePassword == "" {
		if pw, ok := t.Environment.KeystorePassword(); ok {
			t.KeystorePassword = pw
			sources["keystore_password"] = "PTL default for " + string(t.Environment)
		}
	}
	// The mailbox keeps its case: a lower-case id is a mistake that
	// auth.credentials names, not one to correct silently (MESH refuses it).
	t.Credentials.Mailbox = strings.TrimSpace(t.Credentials.Mailbox)
	t.Recipient = strings.ToUpper(strings.TrimSpace(t.Recipient))
	if t.Recipient == "" {
		t.Recipient = strings.ToUpper(t.Credentials.Mailbox)
	}
	return t, sources, nil
}

// resolveProxy sets how MESH is reached: --proxy or --no-proxy over the
// profile's proxy over the environment's variables, which are read in any
// case (the checks explain them). A password never comes from a flag or a
// profile: only from MESH_PROXY_PASSWORD(_FILE), or the variable's URL.
func (a *app) resolveProxy(f targetFlags, t *mesh.Target, sources map[string]string) error {
	if f.proxy != "" && f.noProxy {
		return usagef("--proxy and --no-proxy contradict each other: keep one")
	}
	if t.Proxy.Source != "" {
		sources["proxy"] = t.Proxy.Source
	}
	switch {
	case f.noProxy:
		t.Proxy = mesh.ProxySettings{Direct: true, Source: "--no-proxy"}
		sources["proxy"] = "--no-proxy"
	case f.proxy != "":
		if mesh.ProxyCarriesPassword(f.proxy) {
			return usagef("--proxy carries a password, which a flag would show in ps and shell history: give http://user@host:port and set MESH_PROXY_PASSWORD (or MESH_PROXY_PASSWORD_FILE)")
		}
		if _, err := mesh.ParseProxy(f.proxy, "--proxy"); err != nil {
			return usageError{err}
		}
		t.Proxy = mesh.ProxySettings{URL: f.proxy, Source: "--proxy"}
		sources["proxy"] = "--proxy"
	}
	t.Proxy.Env = mesh.ReadProxyEnv(a.getenv)
	if u := a.getenv("MESH_PROXY_USER"); u != "" {
		t.Proxy.User = u
		sources["proxy_user"] = "MESH_PROXY_USER"
	}
	pw, from, err := a.secretFrom("MESH_PROXY_PASSWORD")
	if err != nil {
		return usageError{err}
	}
	if pw != "" {
		t.Proxy.Password = pw
		sources["proxy_password"] = from
	}
	return nil
}

// secret reads NAME, or the file named by NAME_FILE (secretfile.Text: line
// ends trimmed, Windows encodings read). Giving both is an error: which one
// wins would be a guess.
func (a *app) secret(name string) (string, error) {
	v, _, err := a.secretFrom(name)
	return v, err
}

// secretFrom is secret that also names where the value came from.
func (a *app) secretFrom(name string) (value, from string, err error) {
	v, file := a.getenv(name), a.getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", "", fmt.Errorf("both %s and %s_FILE are set: keep one", name, name)
	}
	if file == "" {
		return v, name, nil
	}
	// The file's name is not echoed: a secret pasted into the _FILE
	// variable by mistake would otherwise be printed.
	b, err := mesh.ReadSmallFile(file, maxSecretFile)
	if err != nil {
		return "", "", fmt.Errorf("%s_FILE: the file it names %s", name, err)
	}
	if value, err = secretfile.Text(b); err != nil {
		return "", "", fmt.Errorf("%s_FILE: the file it names %s", name, err)
	}
	if value == "" {
		return "", "", fmt.Errorf("%s_FILE: the file it names is empty", name)
	}
	return value, name + "_FILE " + file, nil
}

// maxSecretFile bounds a secret read from a file: passwords and keys are
// short, and /dev/zero must not eat the machine's memory.
const maxSecretFile = 64 << 10

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// requireCredentials is the usage error for a missing mailbox, password or
// shared key: every command that signs requests needs all three.
func requireCredentials(c mesh.Credentials) error {
	if err := prober.RequireCredentials(c); err != nil {
		return usageError{err}
	}
	return nil
}
