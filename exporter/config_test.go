package exporter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigRefusals(t *testing.T) {
	w := newWorld(t)
	good := w.targetYAML("mb1", "X26ABC1", "")
	for _, tc := range []struct {
		name, config string
		want         string
	}{
		{"inline secret", strings.Replace(good, "mailbox_password: {env: MB_PASSWORD}", "mailbox_password: "+testPassword, 1), "inline secret is refused"},
		{"inline secret quoted", strings.Replace(good, "shared_key: {env: MB_SHARED_KEY}", `shared_key: "`+testSharedKey+`"`, 1), "inline secret is refused"},
		{"secret in the wrong place", good + "    password: " + testPassword + "\n", "field password not found"},
		{"secret as a list", strings.Replace(good, "{env: MB_SHARED_KEY}", "["+testSharedKey+"]", 1), "inline secret is refused"},
		{"unknown module", good + "    modules: [check, http_2xx]\n", `unknown module "http_2xx"`},
		{"unknown field", good + "    colour: blue\n", "field colour not found"},
		{"unknown secret field", strings.Replace(good, "{env: MB_SHARED_KEY}", "{vault: x}", 1), `unknown field "vault"`},
		{"unset variable", strings.Replace(good, "MB_SHARED_KEY", "NOT_SET_ANYWHERE", 1), "NOT_SET_ANYWHERE is not set"},
		{"missing secret file", strings.Replace(good, w.keystorePasswordFile(), "/nonexistent/pw", 1), "/nonexistent/pw: does not exist"},
		{"duplicate name", good + w.targetYAML("mb1", "X26ABC2", ""), "used twice"},
		{"bad name", strings.Replace(good, "name: mb1", "name: 'a b'", 1), "name \"a b\""},
		{"bad label", good + "    labels: {__address__: x}\n", "not a label name"},
		{"job label", good + "    labels: {job: x}\n", "Prometheus sets job"},
		{"instance label", good + "    labels: {instance: x}\n", "Prometheus sets instance"},
		{"live roundtrip", "  - name: live\n    env: live\n    mailbox: X26ABC1\n    workflow: W\n    modules: [roundtrip]\n    secrets: {mailbox_password: {env: MB_PASSWORD}, shared_key: {env: MB_SHARED_KEY}}\n", "allow_live: true"},
		{"roundtrip without workflow", strings.Replace(good, "    workflow: TEST_WORKFLOW2\n", "", 1) + "    modules: [roundtrip]\n", "needs a workflow"},
		{"bad env", strings.Replace(good, "    url: ", "    env: staging\n    url: ", 1), "env:"},
		{"bad duration", good + "modules:\n  roundtrip: {min_interval: often}\n", `"often" is not a duration`},
		{"proxy password inline", good + "    proxy: http://alice:" + testPassword + "@proxy:3128\n", "secrets.proxy_password"},
		{"proxy password inline that does not parse", good + "    proxy: http://alice:pa/" + testPassword + "@proxy:3128\n", "secrets.proxy_password"},
		{"proxy that does not parse", good + "    proxy: http://proxy:31x28\n", "percent-encode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFile(w.writeConfig(t, "targets:\n"+tc.config), w.getenv)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, testPassword) || strings.Contains(msg, testSharedKey) {
				t.Errorf("error shows a secret: %q", msg)
			}
			if !errors.As(err, new(*ConfigError)) {
				t.Errorf("error is a %T, not a *ConfigError", err)
			}
		})
	}
}

func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "unreadable.yml")
	os.WriteFile(unreadable, []byte("targets: []\n"), 0o000)
	empty := filepath.Join(dir, "empty.yml")
	os.WriteFile(empty, nil, 0o600)
	invalid := filepath.Join(dir, "invalid.yml")
	os.WriteFile(invalid, []byte("targets: [\n"), 0o600)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.yml"), "does not exist"},
		{dir, "is a directory"},
		{empty, "no targets"},
		{invalid, "line"},
	} {
		_, err := LoadFile(tc.path, os.Getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: %v, want an error naming the file and saying %q", tc.path, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		if _, err := LoadFile(unreadable, os.Getenv); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable config: %v", err)
		}
	}
}

func TestConfigDefaultsAndProfile(t *testing.T) {
	w := newWorld(t)
	cfgPath := w.writeConfig(t, "targets:\n  - name: sb\n    profile: "+w.files.Profile+"\n    labels: {organisation: RXX}\n")
	l, err := LoadFile(cfgPath, w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	tg, ok := l.Target("sb")
	if !ok {
		t.Fatal("target sb missing")
	}
	if !tg.Allows(ModuleCheck) || !tg.Allows(ModuleIdentity) || tg.Allows(ModuleRoundTrip) {
		t.Errorf("default modules: %v", tg.Modules)
	}
	if tg.Mesh.Credentials.Mailbox != "X26ABC1" || tg.Mesh.Keystore == "" || tg.Labels["organisation"] != "RXX" {
		t.Errorf("profile not applied: %+v", tg.Labels)
	}
	if time.Duration(l.RoundTrip.MinInterval) != defaultMinInterval {
		t.Error("no default min_interval")
	}
}

// TestConfigProxy: a target names its proxy, the user and the password by
// reference; the exporter's own HTTPS_PROXY is the default.
func TestConfigProxy(t *testing.T) {
	w := newWorld(t)
	cfg := "targets:\n  - name: p\n    profile: " + w.files.Profile + "\n    proxy: http://proxy.trust:8080\n    proxy_user: TRUST\\alice\n    secrets: {proxy_password: {env: MB_PASSWORD}}\n" +
		"  - name: d\n    profile: " + w.files.Profile + "\n    proxy: none\n"
	l, err := LoadFile(w.writeConfig(t, cfg), w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := l.Target("p")
	r, err := p.Mesh.Proxy.Route("https", "msg.intspineservices.nhs.uk", "443")
	if err != nil || r.Proxy.String() != `http://TRUST\alice@proxy.trust:8080` || !r.Proxy.HasCredentials() {
		t.Errorf("route %v %v", r.Describe(), err)
	}
	if p.Sources["proxy_password"] == "" {
		t.Error("the proxy password's source is not named")
	}
	if d, _ := l.Target("d"); !d.Mesh.Proxy.Direct {
		t.Errorf("proxy: none gives %+v", d.Mesh.Proxy)
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	w := newWorld(t)
	s := w.serve(t, "targets:\n"+w.targetYAML("mb1", "X26ABC1", ""), 4)
	cfgPath := filepath.Join(w.dir, "meshdoctor.yml")
	// A bad config (an inline secret): refused, the old one kept.
	os.WriteFile(cfgPath, []byte("targets:\n"+strings.Replace(w.targetYAML("mb2", "X26ABC2", ""), "{env: MB_PASSWORD}", testPassword, 1)), 0o600)
	code, body := post(t, s, "/-/reload")
	if code != 500 || !strings.Contains(body, "inline secret") || strings.Contains(body, testPassword) {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if _, ok := s.exp.Config().Target("mb1"); !ok {
		t.Fatal("the old config was dropped")
	}
	own := parse(t, get(t, s, "/metrics"))
	if v, _ := value(own, "meshdoctor_exporter_config_last_reload_successful"); v != 0 {
		t.Errorf("last_reload_successful = %v after a refused reload", v)
	}
	if !strings.Contains(s.log.String(), "configuration refused") {
		t.Errorf("the log does not say the reload was refused:\n%s", s.log.String())
	}
	if v, _ := value(parse(t, get(t, s, "/probe?target=mb1")), "probe_success"); v != 1 {
		t.Error("the old config no longer probes")
	}
	// A good one: taken.
	os.WriteFile(cfgPath, []byte("targets:\n"+w.targetYAML("mb2", "X26ABC2", "")), 0o600)
	if code, body := post(t, s, "/-/reload"); code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
	if _, ok := s.exp.Config().Target("mb2"); !ok {
		t.Error("the new config was not taken")
	}
	own = parse(t, get(t, s, "/metrics"))
	if v, _ := value(own, "meshdoctor_exporter_config_last_reload_successful"); v != 1 {
		t.Errorf("last_reload_successful = %v after a good reload", v)
	}
	if v, _ := value(own, "meshdoctor_exporter_targets"); v != 1 {
		t.Errorf("targets = %v", v)
	}
}

// No secret appears in anything the exporter serves or logs.
func TestNoSecretInAnyOutput(t *testing.T) {
	w := newWorld(t)
	cfg := "targets:\n" + w.targetYAML("mb1", "X26ABC1", "    modules: [check, identity, roundtrip]\n    labels: {organisation: RXX}\n")
	s := w.serve(t, cfg, 4)
	var outputs []string
	for _, p := range []string{
		"/probe?target=mb1", "/probe?target=mb1&debug=true", "/probe?target=mb1&module=identity&debug=true",
		"/probe?target=mb1&module=roundtrip", "/probe?target=mb1&module=roundtrip&debug=true",
		"/probe?target=nope", "/metrics", "/sd", "/", "/-/healthy",
	} {
		_, b := s.get(t, p, 10)
		outputs = append(outputs, p+": "+b)
	}
	// A failing probe: the wrong shared key on the sandbox's side is not
	// needed; a wrong password makes the handshake fail with MESH's answer.
	w.env["MB_PASSWORD"] = "Wrong-" + testPassword
	if err := s.exp.Reload(); err != nil {
		t.Fatal(err)
	}
	_, b := s.get(t, "/probe?target=mb1&debug=true", 10)
	outputs = append(outputs, "failing debug: "+b)
	_, b = s.get(t, "/", 0)
	outputs = append(outputs, "index after failure: "+b)
	// A refused reload's message and log.
	os.WriteFile(filepath.Join(w.dir, "meshdoctor.yml"), []byte(strings.Replace(cfg, "{env: MB_SHARED_KEY}", testSharedKey, 1)), 0o600)
	_, b = post(t, s, "/-/reload")
	outputs = append(outputs, "reload: "+b, "log: "+s.log.String())
	for _, out := range outputs {
		for _, secret := range []string{testPassword, testSharedKey} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret shows in %s", out)
			}
		}
	}
	if !strings.Contains(outputs[len(outputs)-4], "FAIL") {
		t.Errorf("the failing probe's debug shows no failure:\n%s", outputs[len(outputs)-4])
	}
}

func post(t *testing.T, s *served, path string) (int, string) {
	t.Helper()
	resp, err := s.srv.Client().Post(s.srv.URL+path, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(resp)
}

// TestRouteLabel: a target on a named environment is labelled with the
// route it takes, internet when the config does not say.
func TestRouteLabel(t *testing.T) {
	w := newWorld(t)
	target := func(name, extra string) string {
		return "  - name: " + name + "\n    env: int\n" + extra + "    mailbox: X26ABC1\n    keystore: " + w.files.ClientKeystore +
			"\n    secrets: {mailbox_password: {env: MB_PASSWORD}, shared_key: {env: MB_SHARED_KEY}}\n"
	}
	l, err := LoadFile(w.writeConfig(t, "targets:\n"+target("i", "")+target("h", "    route: hscn\n")), w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"i": "internet", "h": "hscn"} {
		if tg, _ := l.Target(name); tg.Labels["route"] != want {
			t.Errorf("target %s: route label %q, want %q", name, tg.Labels["route"], want)
		}
	}
}
