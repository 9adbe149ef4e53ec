package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUploadExpiry: a chunked upload that never completes is expired after
// the upload expiry: logged, listed by the admin API, in error for its
// sender's tracking, its chunks gone from the data directory; a completed
// one is not touched.
func TestUploadExpiry(t *testing.T) {
	for _, store := range storeKinds {
		t.Run(store, func(t *testing.T) {
			s := newSBXFor(t, store)
			var logged []string
			s.st.uploadExpiry = time.Hour
			s.st.logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
			h := map[string]string{"Mex-To": "X26ABC2", "Mex-WorkflowID": "TEST_WORKFLOW", "Mex-Chunk-Range": "1:3", "Mex-LocalID": "abandoned"}
			r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox", auth: "X26ABC1", headers: h, body: []byte("chunk one")})
			if r.status != 202 {
				t.Fatalf("chunk 1: %d %s", r.status, r.body)
			}
			id := r.json(t)["messageID"].(string)
			done := s.send("X26ABC1", "X26ABC2", "TEST_WORKFLOW", []byte("complete"), nil)

			s.clock.Advance(59 * time.Minute)
			if got := s.do(req{path: "/admin/uploads/expired"}); !strings.Contains(string(got.body), `"expired_uploads":[]`) {
				t.Fatalf("before the expiry: %s", got.body)
			}
			s.clock.Advance(2 * time.Minute)
			got := s.do(req{path: "/messageexchange/admin/uploads/expired"})
			body := string(got.body)
			if got.status != 200 || !strings.Contains(body, id) || !strings.Contains(body, `"chunks_received":1`) ||
				!strings.Contains(body, `"chunk_count":3`) || strings.Contains(body, done) {
				t.Fatalf("admin list %d %s", got.status, body)
			}
			if len(logged) != 1 || !strings.Contains(logged[0], id) || !strings.Contains(logged[0], "1 of 3 chunks") {
				t.Errorf("log %q", logged)
			}
			if tr := s.trackV1(t, "X26ABC1", id); tr.Status != "Error" {
				t.Errorf("tracking of the expired upload: %q", tr.Status)
			}
			late := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox/" + id + "/2", auth: "X26ABC1",
				headers: map[string]string{"Mex-Chunk-Range": "2:3"}, body: []byte("too late")})
			if late.status < 400 {
				t.Errorf("a chunk after the expiry answered %d", late.status)
			}
			if ids := s.inboxV1("X26ABC2"); len(ids) != 1 || ids[0] != done {
				t.Errorf("inbox %v, want only the completed message", ids)
			}
			if s.st.files != nil {
				if _, err := os.Stat(s.st.files.chunkPath(id, 1)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the expired upload's chunk is still on disk: %v", err)
				}
			}
		})
	}
}

// TestDirLock: a --pki-dir or --data-dir in use by a running sandbox is
// refused, naming the holder; it is free again once that sandbox stops,
// and a lock left by a killed process does not block.
func TestDirLock(t *testing.T) {
	pki, data := t.TempDir(), t.TempDir()
	first := startSandbox(t, Config{PKIDir: pki, DataDir: data})
	for _, cfg := range []Config{{PKIDir: pki}, {PKIDir: t.TempDir(), DataDir: data}} {
		cfg.Listen = "127.0.0.1:0"
		_, err := Start(cfg)
		if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) ||
			!strings.Contains(err.Error(), first.URL()) {
			t.Fatalf("second sandbox on %+v: %v", cfg, err)
		}
	}
	first.Close()
	second := startSandbox(t, Config{PKIDir: pki, DataDir: data})
	second.Close()

	// A process that took the lock and was killed leaves the file, not
	// the lock.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock not installed: util-linux")
	}
	// -o: flock itself holds the lock, not the command; cat ends when
	// its input closes, so nothing outlives the test.
	cmd := exec.Command("flock", "-o", filepath.Join(pki, lockName), "cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv, err := Start(Config{Listen: "127.0.0.1:0", PKIDir: pki})
		if errors.Is(err, ErrDirInUse) {
			break
		}
		if srv != nil {
			srv.Close() // flock had not taken the lock yet
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("while another process holds the lock: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	stdin.Close()
	// flock's child shares the locked file until it closes its copy (-o)
	// and ends with its input: on a busy machine that is a moment after
	// flock itself is gone. The lock must then be free, never stuck.
	deadline = time.Now().Add(5 * time.Second)
	for {
		third, err := Start(Config{Listen: "127.0.0.1:0", PKIDir: pki})
		if err == nil {
			third.Close()
			break
		}
		if !errors.Is(err, ErrDirInUse) || time.Now().After(deadline) {
			t.Fatalf("after the holder was killed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenInUse: a port another program holds is named in words, the
// same on every platform (not Winsock's "winapi error #10048").
func TestListenInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := Start(Config{Listen: busy.Addr().String()})
	if err == nil {
		srv.Close()
		t.Fatalf("started on %s, which is in use", busy.Addr())
	}
	if !strings.Contains(err.Error(), busy.Addr().String()+": address already in use") {
		t.Errorf("error %q does not say the address is in use", err)
	}
}
