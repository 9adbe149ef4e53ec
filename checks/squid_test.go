package checks

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// squidBin and its helpers are Debian's squid-openssl (installed by .ci/run).
const (
	squidBin    = "/usr/sbin/squid"
	squidHelper = "/usr/lib/squid/"
)

// startSquid runs a real Squid on loopback with this configuration (the
// listening and housekeeping lines are added), in a private directory,
// until the test ends. It skips, saying so, where Squid is missing.
func startSquid(t *testing.T, conf string, prepare func(dir string)) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		// Under Wine the Linux paths stat as files but cannot be run.
		t.Skip("Squid is a Linux program: the in-process proxy doubles cover this platform")
	}
	for _, f := range []string{squidBin, squidHelper + "basic_ncsa_auth", squidHelper + "ntlm_fake_auth", squidHelper + "security_file_certgen"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("squid-openssl not installed: %s missing (apt-get install squid-openssl)", f)
		}
	}
	dir, err := os.MkdirTemp("", "meshdoctor-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Run as root (as CI does), Squid drops to cache_effective_user, which
	// must be able to read and write its directory.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if prepare != nil {
		prepare(dir)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "cache_effective_user nobody\n"
		exec.Command("chown", "-R", "nobody", dir).Run()
	}
	full := strings.NewReplacer("{addr}", addr, "{dir}", dir).Replace(conf) + `
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log none
cache deny all
coredump_dir {dir}
shutdown_lifetime 0 seconds
dns_nameservers 127.0.0.1
` + user
	full = strings.ReplaceAll(full, "{dir}", dir)
	if err := os.WriteFile(filepath.Join(dir, "squid.conf"), []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(squidBin, "-N", "-f", filepath.Join(dir, "squid.conf"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			t.Fatalf("squid exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			t.Fatalf("squid did not listen on %s within 15 s\n%s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRealSquid puts Debian's Squid between meshdoctor and a sandbox, as a
// trust runs it: Basic authentication against an htpasswd file, NTLM
// (ntlm_fake_auth) and TLS inspection (ssl_bump).
func TestRealSquid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real Squid processes")
	}
	_, target := sandboxTarget(t, sandbox.Config{})
	opts := Options{Timeout: 5 * time.Second}
	through := func(addr, user, password string) mesh.Target {
		tg := target
		tg.Proxy = mesh.ProxySettings{URL: "http://" + addr, User: user, Password: password}
		return tg
	}

	t.Run("basic authentication", func(t *testing.T) {
		const password = "Sq/uid#pw?@:%"
		addr := startSquid(t, `
http_port {addr}
auth_param basic program `+squidHelper+`basic_ncsa_auth {dir}/passwd
auth_param basic realm trust proxy
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
`, func(dir string) {
			if out, err := exec.Command("htpasswd", "-bc", filepath.Join(dir, "passwd"), "alice", password).CombinedOutput(); err != nil {
				t.Skipf("htpasswd not installed or failed (apache2-utils): %v %s", err, out)
			}
		})
		res := runAtWith(t, through(addr, "alice", password), opts, connectionChecks...)
		for _, id := range connectionChecks {
			if res[id].Status != Pass {
				t.Errorf("%s through Squid: %s %q", id, res[id].Status, res[id].Summary)
			}
		}
		if sw, _ := res["tcp.connect"].Evidence.Get("proxy software"); !strings.Contains(strings.ToLower(sw), "squid") {
			t.Errorf("proxy software %q: want Squid named", sw)
		}
		res = runAtWith(t, through(addr, "alice", "wrong"), opts, connectionChecks...)
		expect(t, res, "tcp.connect", Fail, "the proxy refused the credentials for user alice")
		res = runAtWith(t, through(addr, "", ""), opts, connectionChecks...)
		expect(t, res, "tcp.connect", Fail, "wants authentication", "Basic", "MESH_PROXY_USER")
		tls := through(addr, "alice", password)
		tls.Proxy.URL = "https://" + addr
		res = runAtWith(t, tls, opts, connectionChecks...)
		expect(t, res, "tcp.connect", Fail, "speaks plain HTTP", "Use http://")
	})

	t.Run("NTLM", func(t *testing.T) {
		addr := startSquid(t, `
http_port {addr}
auth_param ntlm program `+squidHelper+`ntlm_fake_auth
auth_param ntlm children 2
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
`, nil)
		res := runAtWith(t, through(addr, "", ""), opts, connectionChecks...)
		expect(t, res, "tcp.connect", Fail, "NTLM", "Windows sign-in", "exempt")
		res = runAtWith(t, through(addr, `TRUST\alice`, "pw"), opts, connectionChecks...)
		for _, id := range connectionChecks {
			if res[id].Status != Pass {
				t.Errorf("%s through Squid with NTLM: %s %q", id, res[id].Status, res[id].Summary)
			}
		}
		if a, _ := res["tcp.connect"].Evidence.Get("authenticated with"); !strings.HasPrefix(a, "NTLM") {
			t.Errorf("authenticated with %q, want NTLM", a)
		}
	})

	t.Run("SSL inspection (ssl_bump)", func(t *testing.T) {
		ca, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Trust Squid Inspection"})
		if err != nil {
			t.Fatal(err)
		}
		addr := startSquid(t, `
http_port {addr} ssl-bump tls-cert={dir}/ca.pem tls-key={dir}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB
sslcrtd_program `+squidHelper+`security_file_certgen -s {dir}/ssl_db -M 4MB
sslcrtd_children 2
tls_outgoing_options flags=DONT_VERIFY_PEER
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
http_access allow all
`, func(dir string) {
			key, err := pki.EncodePrivateKeyPEM(ca.SubCA.Key)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "ca.pem"), pki.EncodeCertificatesPEM(ca.SubCA.Cert), 0o644)
			os.WriteFile(filepath.Join(dir, "ca.key"), key, 0o644)
			if out, err := exec.Command(squidHelper+"security_file_certgen", "-c", "-s", filepath.Join(dir, "ssl_db"), "-M", "4MB").CombinedOutput(); err != nil {
				t.Fatalf("security_file_certgen: %v %s", err, out)
			}
		})
		res := runAtWith(t, through(addr, "", ""), opts, connectionChecks...)
		expect(t, res, "tls.server", Fail, "intercepted (SSL inspection)", "Mutual TLS cannot pass", "exempt")
		if ca, _ := res["tls.server"].Evidence.Get("inspecting CA"); !strings.Contains(ca, "Trust Squid Inspection") {
			t.Errorf("inspecting CA %q: want Squid's CA named", ca)
		}
		for _, id := range []string{"tls.client-auth", "mesh.handshake"} {
			if r := res[id]; r.Status != Skip {
				t.Errorf("%s gives a second cause: %s %q", id, r.Status, r.Summary)
			}
		}
	})
}
