package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// conformProcess runs 'meshdoctor conform' against a profile in a process
// of its own (the test binary doubles as meshdoctor), as a CI pipeline
// would.
func conformProcess(t *testing.T, profile string, extra ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	args := append([]string{"conform", "--profile", profile, "--timeout", "10s", "--poll-interval", "50ms",
		"--chunk-size", "16KiB", "--format", "json"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MESHDOCTOR_TEST_AS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &stdout, &stderr
}

// conformDoc is the part of the JSON document these tests read.
type conformDoc struct {
	Conformance struct {
		RunID   string `json:"run_id"`
		Summary struct {
			OK     bool `json:"ok"`
			Passed int  `json:"passed"`
			Total  int  `json:"total"`
		} `json:"summary"`
		Specs []struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Failure string `json:"failure"`
		} `json:"specs"`
		Cleanup struct {
			Sent         int      `json:"sent"`
			Acknowledged int      `json:"acknowledged"`
			Leftovers    []string `json:"leftovers"`
			Remove       string   `json:"remove"`
			Abandoned    bool     `json:"abandoned"`
		} `json:"cleanup"`
	} `json:"conformance"`
}

func readDoc(t *testing.T, b []byte) conformDoc {
	t.Helper()
	var d conformDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, b)
	}
	return d
}

// inProcessSandbox starts a sandbox in this process with a --pki-dir, and
// seeds X26ABC1's inbox with another sender's message whose local ID
// imitates meshdoctor's.
func inProcessSandbox(t *testing.T) (srv *sandbox.Server, dir, foreign string) {
	t.Helper()
	dir = t.TempDir()
	srv, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := clientFor(t, dir, srv.URL(), "X26ABC2")
	defer c.CloseIdleConnections()
	foreign, err = c.Send(context.Background(), mesh.Message{To: "X26ABC1", WorkflowID: "TEST_WORKFLOW",
		LocalID: "meshdoctor-conform-20261205T000000Z-0123456789ab-basic"}, strings.NewReader("a colleague's"), -1)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dir, foreign
}

func inboxOf(t *testing.T, dir, url, mailbox string) []string {
	t.Helper()
	c := clientFor(t, dir, url, mailbox)
	defer c.CloseIdleConnections()
	ids, err := c.ListAll(context.Background(), mesh.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestParallelRuns: two pipelines run the suites on one mailbox, started
// together and a few hundred milliseconds apart, beside another sender's
// message: both pass, and the inbox ends as it began.
func TestParallelRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs meshdoctor processes")
	}
	for _, apart := range []time.Duration{0, 300 * time.Millisecond, 450 * time.Millisecond} {
		t.Run(apart.String(), func(t *testing.T) {
			srv, dir, foreign := inProcessSandbox(t)
			profile := filepath.Join(dir, "profile.json")
			first, out1, err1 := conformProcess(t, profile)
			time.Sleep(apart)
			second, out2, err2 := conformProcess(t, profile)
			for i, r := range []struct {
				cmd         *exec.Cmd
				out, stderr *bytes.Buffer
			}{{first, out1, err1}, {second, out2, err2}} {
				err := r.cmd.Wait()
				d := readDoc(t, r.out.Bytes())
				if err != nil || !d.Conformance.Summary.OK || len(d.Conformance.Cleanup.Leftovers) > 0 {
					for _, s := range d.Conformance.Specs {
						if s.Status != "passed" {
							t.Errorf("run %d: %s %s: %s", i+1, s.ID, s.Status, s.Failure)
						}
					}
					t.Errorf("run %d: %v, summary %+v, clean-up %+v, stderr %s", i+1, err, d.Conformance.Summary, d.Conformance.Cleanup, r.stderr)
				}
			}
			if ids := inboxOf(t, dir, srv.URL(), "X26ABC1"); len(ids) != 1 || !strings.EqualFold(ids[0], foreign) {
				t.Errorf("inbox after both runs %v, want only the other sender's %s", ids, foreign)
			}
		})
	}
}

// signalProxy stands between a conform process and the sandbox and sends
// the process SIGINT when it sees given requests, holding each such
// request a moment so the signal lands before MESH answers.
func signalProxy(t *testing.T, srv *sandbox.Server, dir string, at map[int]bool) (profile string, setProc func(*os.Process)) {
	t.Helper()
	u, _ := url.Parse(srv.URL())
	p := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}
	p.Transport = tr
	var (
		mu   sync.Mutex
		n    int
		proc *os.Process
	)
	ps := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		hit, pr := at[n], proc
		mu.Unlock()
		if hit && pr != nil {
			_ = pr.Signal(syscall.SIGINT)
			time.Sleep(150 * time.Millisecond)
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ps.Close(); tr.CloseIdleConnections() })
	ca := filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ps.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	var prof mesh.Profile
	if err := json.Unmarshal(raw, &prof); err != nil {
		t.Fatal(err)
	}
	prof.URL, prof.CABundle = ps.URL, ca
	prof.Keystore = filepath.Join(dir, prof.Keystore)
	b, _ := json.Marshal(prof)
	profile = filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return profile, func(p *os.Process) { mu.Lock(); proc = p; mu.Unlock() }
}

// TestInterruptWritesReport sends real interrupts to a conform process:
// during the preflight, and twice mid-run. The JSON document and the JUnit
// file are always written, exit 130, and every message the run left in the
// inbox is named with how to remove it.
func TestInterruptWritesReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs meshdoctor processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("Go cannot interrupt another process on Windows (os.Process.Signal): the in-process interrupt tests cover this platform")
	}
	tests := []struct {
		name string
		at   map[int]bool
	}{
		{"during the preflight", map[int]bool{1: true}},
		{"twice mid-run", map[int]bool{30: true, 31: true}},
		{"twice while sending pages", map[int]bool{60: true, 62: true}},
		{"three times", map[int]bool{40: true, 41: true, 42: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, dir, foreign := inProcessSandbox(t)
			profile, setProc := signalProxy(t, srv, dir, tt.at)
			junit := filepath.Join(t.TempDir(), "junit.xml")
			cmd, out, stderr := conformProcess(t, profile, "--junit", junit)
			setProc(cmd.Process)
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
				t.Fatalf("exit %d (%v), want %d; stderr %s", code, err, exitInterrupted, stderr)
			}
			d := readDoc(t, out.Bytes())
			if d.Conformance.RunID == "" || d.Conformance.Summary.OK {
				t.Errorf("run %q summary %+v", d.Conformance.RunID, d.Conformance.Summary)
			}
			if x, err := os.ReadFile(junit); err != nil || !bytes.Contains(x, []byte("<testsuite")) {
				t.Errorf("JUnit file: %v", err)
			}
			left := strings.Join(d.Conformance.Cleanup.Leftovers, "\n")
			c := clientFor(t, dir, srv.URL(), "X26ABC1")
			defer c.CloseIdleConnections()
			for _, id := range inboxOf(t, dir, srv.URL(), "X26ABC1") {
				if strings.EqualFold(id, foreign) {
					continue
				}
				info, err := c.Head(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(left, id) && !strings.Contains(left, "local ID "+info.LocalID+":") {
					t.Errorf("%s left in the inbox and not named: %+v", id, d.Conformance.Cleanup)
				}
			}
			if len(d.Conformance.Cleanup.Leftovers) > 0 && d.Conformance.Cleanup.Remove == "" {
				t.Errorf("leftovers without how to remove them")
			}
			t.Logf("clean-up %+v", d.Conformance.Cleanup)
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr %q", stderr)
			}
		})
	}
}
