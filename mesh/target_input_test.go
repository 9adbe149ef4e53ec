package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBaseURLRefusesWhatCannotBeMESH(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"https://msg.intspineservices.nhs.uk", ""},
		{"https://127.0.0.1:8700/messageexchange/", ""},
		{"http://localhost:8700", ""},
		{"msg.intspineservices.nhs.uk", "must look like https://host"},
		{"ftp://mesh.example", "must look like https://host"},
		{"http://mesh.example", "plain http"},
		{"https://127.0.0.1:0", "port must be a number from 1 to 65535"},
		{"https://127.0.0.1:65536", "port must be a number from 1 to 65535"},
		{"https://mesh.example/?q=1", "query or fragment"},
		{"https://mesh.example#frag", "query or fragment"},
		{"https://mesh.example/api", "the path"},
		{"https://bob:Zq9/url-secret@mesh.example", "must look like"},
		{"https://bob:url-secret@mesh.example", "user name or password"},
	}
	for _, tt := range tests {
		got, err := Target{URL: tt.url}.BaseURL()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.url, err)
		case tt.want == "" && strings.Contains(got, PathPrefix):
			t.Errorf("%s: base %q keeps the path", tt.url, got)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.url, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "url-secret"):
			t.Errorf("%s: the error shows the password: %v", tt.url, err)
		}
	}
}

func TestLoadProfileSaysWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path, want string
	}{
		{write("ok.json", `{"url": "https://127.0.0.1:8700", "mailbox": "X26ABC1", "keystore": "client.p12"}`), ""},
		// As Notepad (before Windows 10 1903) and Windows PowerShell's
		// Set-Content -Encoding UTF8 save it: a UTF-8 byte order mark.
		{write("bom.json", "\xef\xbb\xbf"+`{"url": "https://127.0.0.1:8700", "keystore": "client.p12"}`+"\r\n"), ""},
		// As Windows PowerShell's Out-File and > save it: UTF-16LE.
		{write("utf16.json", "\xff\xfe{\x00\"\x00k\x00e\x00y\x00s\x00t\x00o\x00r\x00e\x00\"\x00:\x00\"\x00c\x00l\x00i\x00e\x00n\x00t\x00.\x00p\x001\x002\x00\"\x00}\x00\r\x00\n\x00"), ""},
		{write("empty.json", ``), "the file is empty"},
		{write("null.json", `null`), "sets nothing"},
		{write("array.json", `[1]`), "want a JSON object"},
		{write("trailing.json", `{"mailbox": "X26ABC1"} {"x": 1}`), "more after its JSON object"},
		{write("unknown.json", `{"mailbox": "X26ABC1", "mailbx": "y"}`), `unknown setting "mailbx"`},
		{write("type.json", `{"mailbox": 7}`), `"mailbox" must be a string`},
		{write("syntax.json", `{"mailbox": `), "ends early"},
		{write("bad.json", `{"mailbox": x}`), "invalid JSON at byte"},
		{dir, "is a directory"},
	}
	for _, tt := range tests {
		tg, err := LoadProfile(tt.path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.want == "" && tg.Keystore != filepath.Join(dir, "client.p12"):
			t.Errorf("%s: keystore %q not read from the profile's directory", tt.path, tg.Keystore)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.path, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "Go "):
			t.Errorf("%s: error speaks Go: %v", tt.path, err)
		}
	}
}

// TestProfileProxy: a profile may name the proxy (or "none"), never its
// password.
func TestProfileProxy(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		proxy  string
		want   ProxySettings
		errHas string
	}{
		{"http://alice@proxy.trust.nhs.uk:8080", ProxySettings{URL: "http://alice@proxy.trust.nhs.uk:8080"}, ""},
		{"none", ProxySettings{Direct: true}, ""},
		{"http://alice:Secr3t-pw@proxy:8080", ProxySettings{}, "carries a password"},
		{"http://alice:Secr/3t@proxy:8080", ProxySettings{}, "carries a password"},
		{"http://proxy:80x80", ProxySettings{}, "percent-encode"},
	} {
		p := filepath.Join(dir, "p.json")
		if err := os.WriteFile(p, []byte(`{"url": "https://127.0.0.1:8700", "mailbox": "X26ABC1", "proxy": "`+tt.proxy+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		tg, err := LoadProfile(p)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || strings.Contains(err.Error(), "Secr") {
				t.Errorf("%q: error %v, want %q without the password", tt.proxy, err, tt.errHas)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.proxy, err)
		}
		tt.want.Source = "profile " + p
		if tg.Proxy != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.proxy, tg.Proxy, tt.want)
		}
	}
}
