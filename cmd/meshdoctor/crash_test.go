package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// The test binary doubles as meshdoctor, so a sandbox can run in a process
// of its own and be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("MESHDOCTOR_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
	}
	if os.Getenv("MESHDOCTOR_TEST_PRINT_ARGS") == "1" { // a stand-in for curl.exe: see shell_test.go
		json.NewEncoder(os.Stdout).Encode(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type sandboxProcess struct {
	cmd *exec.Cmd
	url string
}

func startSandboxProcess(t *testing.T, pkiDir, dataDir string) *sandboxProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "sandbox", "--listen", "127.0.0.1:0", "--pki-dir", pkiDir, "--data-dir", dataDir, "--quiet")
	cmd.Env = append(os.Environ(), "MESHDOCTOR_TEST_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sandboxProcess{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "MESH sandbox listening on "); ok {
			p.url = u
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if p.url == "" {
		t.Fatalf("sandbox did not start: %s", stderr.String())
	}
	return p
}

func clientFor(t *testing.T, pkiDir, url, mailbox string) *mesh.Client {
	t.Helper()
	target, err := mesh.LoadProfile(filepath.Join(pkiDir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := target.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	creds := target.Credentials
	creds.Mailbox = mailbox
	c, err := mesh.NewClient(mesh.Config{BaseURL: url, Credentials: creds, TLS: tlsCfg, ChunkSize: 1 << 20, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stallingReaderAt serves data up to limit, then says so and blocks until
// released. It is an io.ReaderAt so the client streams it without
// buffering: the first part of the chunk reaches the sandbox.
type stallingReaderAt struct {
	data    []byte
	limit   int64
	stalled chan struct{}
	release chan struct{}
	once    bool
}

func (s *stallingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.limit {
		if !s.once {
			s.once = true
			close(s.stalled)
		}
		<-s.release
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p[:min(int64(len(p)), s.limit-off)], s.data[off:]), nil
}

func (s *stallingReaderAt) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestKillDuringUploadLeavesNoCorruptMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sandbox processes")
	}
	pkiDir, dataDir := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first := startSandboxProcess(t, pkiDir, dataDir)
	alice := clientFor(t, pkiDir, first.url, "X26ABC1")
	whole := bytes.Repeat([]byte("delivered before the crash\n"), 100_000) // 2.6 MiB, 3 chunks
	delivered, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW"}, bytes.NewReader(whole), int64(len(whole)))
	if err != nil {
		t.Fatal(err)
	}

	// A second message stalls half way through its second chunk; then the
	// sandbox is killed outright.
	stall := &stallingReaderAt{data: whole, limit: 1<<20 + 300<<10, stalled: make(chan struct{}), release: make(chan struct{})}
	sendDone := make(chan error, 1)
	go func() {
		_, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW"}, stall, int64(len(whole)))
		sendDone <- err
	}()
	select {
	case <-stall.stalled:
	case err := <-sendDone:
		t.Fatalf("send finished before the stall: %v", err)
	}
	// The partial second chunk is on the sandbox's disk, in a temporary file.
	if !eventually(func() bool { return len(tempFiles(dataDir)) > 0 }) {
		t.Fatal("no partial chunk reached the data dir")
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	close(stall.release)
	if err := <-sendDone; err == nil {
		t.Fatal("send through a killed sandbox succeeded")
	}

	second := startSandboxProcess(t, pkiDir, dataDir)
	bob := clientFor(t, pkiDir, second.url, "X26ABC2")
	ids, err := bob.ListAll(ctx, mesh.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != delivered {
		t.Fatalf("after the crash the inbox is %v, want only %s", ids, delivered)
	}
	var got bytes.Buffer
	if _, err := bob.Download(ctx, delivered, &got); err != nil || !bytes.Equal(got.Bytes(), whole) {
		t.Fatalf("the message delivered before the crash: %v, %d bytes", err, got.Len())
	}
	// The store still works: a new message goes through after the restart.
	alice = clientFor(t, pkiDir, second.url, "X26ABC1")
	if _, err := alice.Send(ctx, mesh.Message{To: "X26ABC2", WorkflowID: "TEST_WORKFLOW"}, bytes.NewReader(whole), int64(len(whole))); err != nil {
		t.Fatal(err)
	}
	if leftovers := tempFiles(dataDir); len(leftovers) > 0 {
		t.Fatalf("temporary files survived the restart: %v", leftovers)
	}
}

func tempFiles(dir string) []string {
	var found []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp") {
			found = append(found, path)
		}
		return nil
	})
	return found
}

func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
