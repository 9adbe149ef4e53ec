package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// The file store keeps each message in its own directory:
//
//	<dataDir>/messages/<MESSAGE_ID>/meta.json   the metadata (msgMeta)
//	<dataDir>/messages/<MESSAGE_ID>/<k>.chunk   chunk k as received (gzip stays gzip)
//	<dataDir>/messages/<MESSAGE_ID>/.tmp-*      a write in progress
//
// Every file is written under a temporary name and renamed into place, and
// the metadata is written only after the chunk it describes is in place. So
// a crash (kill -9 mid-upload) can leave temporary files, or a chunk the
// metadata does not mention yet, but never a message that claims data it
// does not have: openFileStore deletes temporary files, and a message
// directory without metadata (its first chunk never finished) is dropped.
//
// There is no fsync: a killed process keeps its writes in the page cache,
// and a sandbox need not survive a power cut. Renames are atomic either way.

const (
	messagesDirName = "messages"
	metaFileName    = "meta.json"
	chunkSuffix     = ".chunk"
	tempPrefix      = ".tmp-"
)

// copyBufferSize is the buffer each streamed body goes through.
const copyBufferSize = 256 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// copyBody streams r to w through a pooled buffer. It hides ReaderFrom and
// WriterTo so that the pooled buffer is the one used, and tells read errors
// (the client) from write errors (the disk or the connection).
func copyBody(w io.Writer, r io.Reader) (n int64, readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	ew := &errWriter{w: w}
	n, err := io.CopyBuffer(ew, struct{ io.Reader }{r}, *bp)
	if ew.err != nil {
		return n, nil, ew.err
	}
	return n, err, nil
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

type fileStore struct {
	root string // <dataDir>/messages
}

func openFileStore(dataDir string) (*fileStore, error) {
	root := filepath.Join(dataDir, messagesDirName)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: message store: %w", err)
	}
	return &fileStore{root: root}, nil
}

func (f *fileStore) dir(id string) string { return filepath.Join(f.root, id) }

func (f *fileStore) chunkPath(id string, k int) string {
	return filepath.Join(f.root, id, strconv.Itoa(k)+chunkSuffix)
}

// stage streams a chunk body into a temporary file in the message's
// directory (created for the first chunk). The body is never held in
// memory.
func (f *fileStore) stage(id string, k int, body io.Reader, first bool) (stagedChunk, error) {
	dir := f.dir(id)
	if first {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return stagedChunk{}, &storageError{err}
		}
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"chunk-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return stagedChunk{}, errNoMessage // deleted meanwhile (reset, purge)
		}
		return stagedChunk{}, &storageError{err}
	}
	n, readErr, writeErr := copyBody(tmp, body)
	closeErr := tmp.Close()
	if writeErr == nil {
		writeErr = closeErr
	}
	if readErr != nil || writeErr != nil {
		removeFile(tmp.Name())
		if writeErr != nil {
			return stagedChunk{}, &storageError{writeErr}
		}
		return stagedChunk{}, readErr
	}
	return stagedChunk{size: n, tmp: tmp.Name(), dst: f.chunkPath(id, k)}, nil
}

// saveMeta writes a message's metadata (temporary file, then rename).
func (f *fileStore) saveMeta(m *msgMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dir := f.dir(m.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil { // REPORTs have no chunk to make it
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"meta-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, metaFileName))
	}
	if err != nil {
		removeFile(tmp.Name())
	}
	return err
}

// dropChunks deletes a message's chunk files, keeping its metadata.
func (f *fileStore) dropChunks(id string) {
	entries, _ := os.ReadDir(f.dir(id))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), chunkSuffix) {
			removeFile(filepath.Join(f.dir(id), e.Name()))
		}
	}
}

// remove deletes a message completely.
func (f *fileStore) remove(id string) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return
	}
	_ = os.RemoveAll(f.dir(id))
}

// removeUnknown deletes every message directory that keep does not claim.
func (f *fileStore) removeUnknown(keep func(id string) bool) error {
	entries, err := os.ReadDir(f.root)
	if err != nil {
		return &storageError{err}
	}
	for _, e := range entries {
		if !keep(e.Name()) {
			f.remove(e.Name())
		}
	}
	return nil
}

// load reads every message, repairing what a crash can leave behind:
// temporary files are deleted; a message without readable metadata, or
// whose metadata names a chunk that is missing or the wrong size, is
// dropped (deleted) and the reason returned; chunk files the metadata does
// not (or no longer) mention are deleted.
func (f *fileStore) load() (msgs []*message, dropped []string, err error) {
	entries, err := os.ReadDir(f.root)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: message store: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			if strings.HasPrefix(name, tempPrefix) {
				removeFile(filepath.Join(f.root, name))
			}
			continue
		}
		m, reason := f.loadOne(name)
		if reason != "" {
			f.remove(name)
			dropped = append(dropped, name+": "+reason)
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, dropped, nil
}

func (f *fileStore) loadOne(id string) (*message, string) {
	dir := f.dir(id)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, "unreadable: " + err.Error()
	}
	chunks := map[int]int64{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			removeFile(filepath.Join(dir, name))
		case strings.HasSuffix(name, chunkSuffix):
			k, err := strconv.Atoi(strings.TrimSuffix(name, chunkSuffix))
			info, ierr := e.Info()
			if err != nil || k < 1 || ierr != nil {
				removeFile(filepath.Join(dir, name))
				continue
			}
			chunks[k] = info.Size()
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, metaFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "no metadata: the upload of its first chunk did not finish"
	}
	if err != nil {
		return nil, "metadata unreadable: " + err.Error()
	}
	m := &message{}
	if err := json.Unmarshal(raw, &m.msgMeta); err != nil {
		return nil, "metadata is not valid: " + err.Error()
	}
	switch {
	case m.ID != id:
		return nil, fmt.Sprintf("metadata is for message %q", m.ID)
	case m.Status == 0:
		return nil, "metadata has no status"
	case m.Type != mesh.MessageTypeData && m.Type != mesh.MessageTypeReport:
		return nil, fmt.Sprintf("metadata has message type %q", m.Type)
	}
	needData := m.Type == mesh.MessageTypeData && !m.DataGone
	if needData {
		// Only an accepted message must be complete: an upload can also
		// end in error (an administrator's event) with chunks missing.
		if m.Status == stAccepted && m.received() != m.Total {
			return nil, fmt.Sprintf("status %s but only %d of %d chunks recorded", m.Status, m.received(), m.Total)
		}
		if m.received() == 0 || m.received() > m.Total {
			return nil, fmt.Sprintf("%d chunks recorded of %d", m.received(), m.Total)
		}
		for k, want := range m.Sizes {
			got, ok := chunks[k+1]
			if !ok {
				return nil, fmt.Sprintf("chunk %d is missing", k+1)
			}
			if got != want {
				return nil, fmt.Sprintf("chunk %d has %d bytes, metadata says %d", k+1, got, want)
			}
		}
	}
	for k := range chunks {
		if !needData || k > m.received() {
			removeFile(f.chunkPath(id, k))
		}
	}
	return m, ""
}

func renameFile(from, to string) error { return os.Rename(from, to) }

func removeFile(path string) { _ = os.Remove(path) }
