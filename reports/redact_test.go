package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
)

func TestRedactorString(t *testing.T) {
	rd := NewRedactor("s3cret<&>\"'pw", "abc", "", "0123456789abcdef")
	tests := []struct{ name, in, want string }{
		{"plain", "password is s3cret<&>\"'pw.", "password is [REDACTED]."},
		{"JSON-escaped", `"s3cret\u003c\u0026\u003e\"'pw"`, `"[REDACTED]"`},
		{"JSON without HTML escaping", `"s3cret<&>\"'pw"`, `"[REDACTED]"`},
		{"HTML-escaped", "s3cret&lt;&amp;&gt;&#34;&#39;pw", "[REDACTED]"},
		{"html.EscapeString", "s3cret&lt;&amp;&gt;&#34;&#39;pw", "[REDACTED]"},
		{"URL-encoded", "pw=s3cret%3C%26%3E%22%27pw", "pw=[REDACTED]"},
		{"too short to hide", "abc def", "abc def"},
		{"token HMAC", "Authorization: NHSMESH X26ABC1:nonce:1:202611290600:4f1b2b0b822cd15d6c15b0f00a08",
			"Authorization: NHSMESH X26ABC1:nonce:1:202611290600:[REDACTED]"},
		{"token HMAC, any case", "nhsmesh x:y:1:2:ffff0000ffff end", "nhsmesh x:y:1:2:[REDACTED] end"},
		{"token in JSON", `{"auth":"NHSMESH X:n:1:2:deadbeefdeadbeef"}`, `{"auth":"NHSMESH X:n:1:2:[REDACTED]"}`},
		{"placeholder kept", "NHSMESH X26ABC1:<nonce>:0:202611290600:<HMAC-SHA256>", "NHSMESH X26ABC1:<nonce>:0:202611290600:<HMAC-SHA256>"},
		{"escaped placeholder kept", `NHSMESH X:\u003cnonce\u003e:0:1:\u003cHMAC\u003e`, `NHSMESH X:\u003cnonce\u003e:0:1:\u003cHMAC\u003e`},
		{"XML placeholder kept", `NHSMESH X:&lt;nonce&gt;:0:1:&lt;HMAC&gt;`, `NHSMESH X:&lt;nonce&gt;:0:1:&lt;HMAC&gt;`},
		{"prose about tokens", "the NHSMESH token builds", "the NHSMESH token builds"},
		{"PEM key", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\ncert", "key:\n[REDACTED PRIVATE KEY]\ncert"},
		{"PEM key in JSON", `"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"`, `"[REDACTED PRIVATE KEY]"`},
		{"PEM key cut short", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "[REDACTED PRIVATE KEY]"},
		{"certificate kept", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		{"secret inside a token", "NHSMESH X:n:1:2:0123456789abcdef", "NHSMESH X:n:1:2:[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rd.String(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	var nilRedactor *Redactor
	if got := nilRedactor.String("NHSMESH a:b:1:2:ffffffff"); got != "NHSMESH a:b:1:2:[REDACTED]" {
		t.Errorf("a nil redactor still removes HMACs, got %q", got)
	}
}

// TestRedactorWriter writes secrets in pieces, split anywhere, and a key
// across many writes: nothing may pass.
func TestRedactorWriter(t *testing.T) {
	secret := "Passw0rd-split-across-writes"
	text := "one " + secret + " two\nNHSMESH X:n:1:2:abcdef0123456789\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nBgkqhkiG9w0\n-----END PRIVATE KEY-----\nlast " + secret
	for _, size := range []int{1, 3, 7, 64} {
		var out bytes.Buffer
		w := NewRedactor(secret).Writer(&out)
		for i := 0; i < len(text); i += size {
			if _, err := w.Write([]byte(text[i:min(i+size, len(text))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		for _, leak := range []string{secret, "abcdef0123456789", "MIIEvQIBADAN", "BgkqhkiG9w0"} {
			if strings.Contains(got, leak) {
				t.Errorf("writes of %d bytes: %q passed:\n%s", size, leak, got)
			}
		}
		if !strings.HasPrefix(got, "one [REDACTED] two\n") || !strings.HasSuffix(got, "last [REDACTED]") {
			t.Errorf("writes of %d bytes: text lost:\n%s", size, got)
		}
	}
}

// TestNewTargetSecrets: the run hides the secrets it was given, but not the
// published defaults (the sandbox's keystore password is "meshdoctor").
func TestNewTargetSecrets(t *testing.T) {
	tg := mesh.Target{
		Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: "a-real-password", SharedKey: "TestKey"},
		Keystore:    "k.p12", KeystorePassword: "meshdoctor",
	}
	r := &Run{Command: "check", Tool: NewTool(), Target: NewTarget(tg, map[string]string{
		"password": "MESH_MAILBOX_PASSWORD", "shared_key": "embedded sandbox", "keystore_password": "PTL default for int",
	})}
	got := r.Redactor().String("a-real-password TestKey meshdoctor")
	if got != "[REDACTED] TestKey meshdoctor" {
		t.Errorf("got %q", got)
	}
	if certs := r.Target.Certificates(); len(certs) != 1 || certs[0].Error == "" {
		t.Errorf("an unreadable keystore should be named with its error: %+v", certs)
	}
}

// NHS's public sandbox credentials are not secrets, and hiding "password"
// would blank the word out of prose; any other value given from the
// environment is hidden.
func TestPublishedSandboxCredentialsAreNotRedacted(t *testing.T) {
	tg := mesh.Target{Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: "password", SharedKey: "Sh4red-from-env"}}
	r := &Run{Target: NewTarget(tg, map[string]string{"password": "MESH_MAILBOX_PASSWORD", "shared_key": "MESH_SHARED_KEY"})}
	if got := r.Redactor().String("the password and Sh4red-from-env"); got != "the password and [REDACTED]" {
		t.Errorf("got %q", got)
	}
}

func TestPasswordInTheURLIsRedacted(t *testing.T) {
	tg := mesh.Target{URL: "https://meshuser:url-s3cret@mesh.example.test"}
	r := &Run{Target: NewTarget(tg, nil)}
	if got := r.Redactor().String("dialled https://meshuser:url-s3cret@mesh.example.test"); strings.Contains(got, "url-s3cret") {
		t.Errorf("got %q", got)
	}
}

// TestWordSecretsSpareProse: a secret that is a word is replaced only as a
// whole word; any other secret wherever it appears, even inside a word.
func TestWordSecretsSpareProse(t *testing.T) {
	rd := NewRedactor("check", "Zq9-x7")
	for in, want := range map[string]string{
		"check: checks were rechecked":   "[REDACTED]: checks were rechecked",
		"pw=check&x":                     "pw=[REDACTED]&x",
		"see aZq9-x7b and Zq9-x7":        "see a[REDACTED]b and [REDACTED]",
		"mot de passe élève check élève": "mot de passe élève [REDACTED] élève",
	} {
		if got := rd.String(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// TestToolFieldsAreNeverRedacted: the embedded sandbox's keystore password
// "meshdoctor", given through a profile or MESH_KEYSTORE_PASSWORD, does not
// blank the product's name; secrets equal to a tool field leave it shown;
// a secret that contains a tool field is still hidden whole.
func TestToolFieldsAreNeverRedacted(t *testing.T) {
	tool := Tool{Name: "meshdoctor", Version: "1.4.2-rc1", OS: "linux", Arch: "amd64"}
	for _, tc := range []struct {
		name, keystorePassword, password string
	}{
		{"sandbox keystore password from the environment", "meshdoctor", "Pw-9f8e7d6c"},
		{"secrets equal to the tool fields", "linux", "1.4.2-rc1"},
		{"secret equal to the architecture", "amd64", "Pw-9f8e7d6c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := mesh.Target{Credentials: mesh.Credentials{Mailbox: "X26ABC1", Password: tc.password, SharedKey: "Sk-linux-amd64-secret"},
				Keystore: "k.p12", KeystorePassword: tc.keystorePassword}
			r := &Run{Command: "check", Tool: tool, Target: NewTarget(tg, map[string]string{
				"password": "MESH_MAILBOX_PASSWORD", "shared_key": "MESH_SHARED_KEY", "keystore_password": "MESH_KEYSTORE_PASSWORD"})}
			r.Checks = []checks.Result{{ID: "auth.credentials", Title: "Credentials", Status: checks.Fail,
				Summary: "shared key Sk-linux-amd64-secret refused"}}
			r.Finish(r.Started)
			var text, js bytes.Buffer
			if err := WriteText(&text, r, TextOptions{Verbose: true}); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text.String(), "meshdoctor 1.4.2-rc1 check") {
				t.Errorf("heading: %q", strings.SplitN(text.String(), "\n", 2)[0])
			}
			var doc struct{ Tool Tool }
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Tool != tool {
				t.Errorf("JSON tool %+v, want %+v", doc.Tool, tool)
			}
			for _, out := range []string{text.String(), js.String()} {
				if strings.Contains(out, "Sk-linux-amd64-secret") || !strings.Contains(out, "shared key [REDACTED] refused") {
					t.Errorf("the shared key is not hidden whole:\n%s", out)
				}
			}
		})
	}
}
