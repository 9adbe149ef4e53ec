package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Body wrappers that hide capabilities, so each read path is exercised.
type (
	// clStream is only an io.Reader: no seeking, no ReadAt.
	clStream struct{ r io.Reader }
	// clSeekOnly can seek but not ReadAt.
	clSeekOnly struct{ rs io.ReadSeeker }
	// clAtOnly is a ReaderAt whose Read must never be used.
	clAtOnly struct {
		ra    io.ReaderAt
		reads int
	}
)

func (s clStream) Read(p []byte) (int, error)               { return s.r.Read(p) }
func (s clSeekOnly) Read(p []byte) (int, error)             { return s.rs.Read(p) }
func (s clSeekOnly) Seek(off int64, wh int) (int64, error)  { return s.rs.Seek(off, wh) }
func (a *clAtOnly) ReadAt(p []byte, off int64) (int, error) { return a.ra.ReadAt(p, off) }
func (a *clAtOnly) Read(p []byte) (int, error) {
	a.reads++
	return 0, errors.New("Read on a ReaderAt body")
}
func clChunkRanges(reqs []clRequest) (out []string) {
	for _, r := range reqs {
		out = append(out, r.Header.Get(HeaderChunkRange))
	}
	return out
}

// uploads returns the outbox requests of the message: the first POST and
// its chunk posts, in order.
func (f *clFake) uploads() []clRequest {
	var out []clRequest
	for _, r := range f.requests() {
		if r.Method == http.MethodPost && strings.Contains(r.Path, "/outbox") {
			out = append(out, r)
		}
	}
	return out
}

func TestClientSendChunking(t *testing.T) {
	const cs = 10
	sizes := []struct {
		name  string
		size  int
		want  []string
		sizes []int
	}{
		{"smaller than a chunk", 5, []string{"1:1"}, []int{5}},
		{"exactly one chunk", 10, []string{"1:1"}, []int{10}},
		{"one byte over", 11, []string{"1:2", "2:2"}, []int{10, 1}},
		{"not a multiple", 25, []string{"1:3", "2:3", "3:3"}, []int{10, 10, 5}},
		{"a multiple", 30, []string{"1:3", "2:3", "3:3"}, []int{10, 10, 10}},
	}
	bodies := []struct {
		name    string
		make    func(p []byte) io.Reader
		unknown bool // pass size -1
	}{
		{"ReaderAt known size", func(p []byte) io.Reader { return &clAtOnly{ra: bytes.NewReader(p)} }, false},
		{"stream known size", func(p []byte) io.Reader { return clStream{bytes.NewReader(p)} }, false},
		{"seekable unknown size", func(p []byte) io.Reader { return clSeekOnly{bytes.NewReader(p)} }, true},
		{"bytes.Reader unknown size", func(p []byte) io.Reader { return bytes.NewReader(p) }, true},
		{"stream unknown size", func(p []byte) io.Reader { return clStream{bytes.NewReader(p)} }, true},
	}
	for _, sz := range sizes {
		for _, b := range bodies {
			for _, gz := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/gzip=%v", sz.name, b.name, gz)
				t.Run(name, func(t *testing.T) {
					setTempDir(t, t.TempDir())
					f := newClFake(t)
					c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = cs })
					data := clPattern(sz.size)
					body := b.make(data)
					size := int64(len(data))
					if b.unknown {
						size = -1
					}
					id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow, Gzip: gz}, body, size)
					if err != nil {
						t.Fatalf("Send: %v", err)
					}
					ups := f.uploads()
					if got := clChunkRanges(ups); strings.Join(got, ",") != strings.Join(sz.want, ",") {
						t.Fatalf("chunk ranges %v, want %v", got, sz.want)
					}
					off := 0
					for k, up := range ups {
						wantPath := "/messageexchange/" + clSender + "/outbox"
						if k > 0 {
							wantPath += "/" + id + "/" + strconv.Itoa(k+1)
						}
						if up.Path != wantPath {
							t.Errorf("chunk %d went to %s, want %s", k+1, up.Path, wantPath)
						}
						piece := up.Body
						if gz {
							if up.Header.Get("Content-Encoding") != "gzip" {
								t.Errorf("chunk %d: Content-Encoding %q", k+1, up.Header.Get("Content-Encoding"))
							}
							piece = clGunzip(t, piece) // each chunk is one complete gzip member
						} else if up.Header.Get("Content-Encoding") != "" {
							t.Errorf("chunk %d: unexpected Content-Encoding", k+1)
						}
						if len(piece) != sz.sizes[k] || !bytes.Equal(piece, data[off:off+len(piece)]) {
							t.Errorf("chunk %d: %d bytes, want %d at offset %d", k+1, len(piece), sz.sizes[k], off)
						}
						off += len(piece)
					}
					if !bytes.Equal(f.payload(id), data) {
						t.Error("stored payload differs from the body")
					}
					if a, ok := body.(*clAtOnly); ok && a.reads != 0 {
						t.Error("a ReaderAt body was read with Read")
					}
					if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
						t.Errorf("temporary files left behind: %v", left)
					}
				})
			}
		}
	}
}

// setTempDir points os.TempDir at dir for the test: TMPDIR on Unix, TMP
// (then TEMP) on Windows.
func setTempDir(t *testing.T, dir string) {
	for _, k := range []string{"TMPDIR", "TMP", "TEMP"} {
		t.Setenv(k, dir)
	}
	if os.TempDir() != dir {
		t.Fatalf("os.TempDir() is %s, not %s", os.TempDir(), dir)
	}
}

// A large body of unknown size is spooled to a temporary file, which is
// removed afterwards.
func TestClientSendSpoolsUnknownSize(t *testing.T) {
	dir := t.TempDir()
	setTempDir(t, dir)
	f := newClFake(t)
	spooled := false
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if entries, _ := os.ReadDir(dir); len(entries) == 1 && strings.HasPrefix(entries[0].Name(), "meshdoctor-send-") {
			spooled = true
		}
		return false
	}
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 1000 })
	data := clPattern(4500)
	id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, clStream{bytes.NewReader(data)}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !spooled {
		t.Error("no spool file while uploading")
	}
	if got := clChunkRanges(f.uploads()); strings.Join(got, ",") != "1:5,2:5,3:5,4:5,5:5" {
		t.Errorf("chunk ranges %v", got)
	}
	if !bytes.Equal(f.payload(id), data) {
		t.Error("payload differs")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool file not removed: %v", left)
	}
}

// A seekable body is sent from its current position, and left after the
// message.
func TestClientSendFromCurrentPosition(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4 })
	r := bytes.NewReader([]byte("skip|payload"))
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, r, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.payload(id)); got != "payload" {
		t.Errorf("payload %q", got)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread in the body", r.Len())
	}
}

func TestClientSendHeaders(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4 })
	ctx := context.Background()
	full := Message{
		To: clRecipient, WorkflowID: clWorkflow, Subject: "subj", LocalID: "local-1", FileName: "f.csv",
		Checksum: "sha256:abc", ContentType: "text/csv", PartnerID: "partner", Encrypted: true, Compressed: true,
	}
	// Single chunk, everything set.
	if _, err := c.Send(ctx, full, strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	h := f.uploads()[0].Header
	want := map[string]string{
		HeaderTo: clRecipient, HeaderWorkflowID: clWorkflow, HeaderChunkRange: "1:1", HeaderSubject: "subj",
		HeaderLocalID: "local-1", HeaderFileName: "f.csv", HeaderChecksum: "sha256:abc", HeaderContentType: "text/csv",
		HeaderPartnerID: "partner", HeaderContentEncrypted: "Y", HeaderContentCompressed: "Y",
		"Content-Type": "text/csv", "Content-Length": "3", "Accept": AcceptV2,
	}
	for name, val := range want {
		if got := h.Get(name); got != val {
			t.Errorf("%s = %q, want %q", name, got, val)
		}
	}
	// Multi-chunk, nothing optional: no optional header at all.
	if _, err := c.Send(ctx, Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("abcdefgh"), -1); err != nil {
		t.Fatal(err)
	}
	ups := f.uploads()[1:]
	first, second := ups[0].Header, ups[1].Header
	for _, name := range []string{HeaderSubject, HeaderLocalID, HeaderFileName, HeaderChecksum, HeaderContentType,
		HeaderPartnerID, HeaderContentEncrypted, HeaderContentCompressed, "Content-Encoding"} {
		if v, ok := first[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("unset %s sent as %q", name, v)
		}
	}
	if first.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("Content-Type %q", first.Get("Content-Type"))
	}
	// Later chunks carry the range, not the metadata.
	if second.Get(HeaderTo) != "" || second.Get(HeaderWorkflowID) != "" || second.Get(HeaderChunkRange) != "2:2" ||
		second.Get("Authorization") == "" {
		t.Errorf("chunk 2 headers: %v", second)
	}
}

func TestClientSendResponseVersions(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			f := newClFake(t)
			c := f.client(f.start(), clSender, func(cfg *Config) { cfg.APIVersion = v; cfg.ChunkSize = 2 })
			id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("abcde"), 5)
			if err != nil {
				t.Fatal(err)
			}
			if f.message(id) == nil {
				t.Fatalf("id %q is not the fake's", id)
			}
			if got := string(f.payload(id)); got != "abcde" {
				t.Errorf("payload %q", got)
			}
		})
	}
}

func TestClientSendRefusesLocally(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		body io.Reader
		size int64
		want error
		msg  string
	}{
		{"empty known size", Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader(""), 0, ErrEmptyMessage, ""},
		{"empty unknown size", Message{To: clRecipient, WorkflowID: clWorkflow}, clStream{strings.NewReader("")}, -1, ErrEmptyMessage, ""},
		{"empty seekable", Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader(""), -1, ErrEmptyMessage, ""},
		{"nil body", Message{To: clRecipient, WorkflowID: clWorkflow}, nil, -1, ErrEmptyMessage, ""},
		{"no recipient", Message{WorkflowID: clWorkflow}, strings.NewReader("x"), 1, nil, "needs Message.To"},
		{"no workflow", Message{To: clRecipient}, strings.NewReader("x"), 1, nil, "WorkflowID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClFake(t)
			c := f.client(f.start(), clSender, nil)
			_, err := c.Send(context.Background(), tt.m, tt.body, tt.size)
			if tt.want != nil && !errors.Is(err, tt.want) || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("err = %v", err)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestClientSendShortBody(t *testing.T) {
	for _, gz := range []bool{false, true} {
		f := newClFake(t)
		c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 4 })
		id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow, Gzip: gz}, clStream{strings.NewReader("abcdef")}, 10)
		if err == nil || !strings.Contains(err.Error(), "ended after 6 of the 10 bytes") {
			t.Fatalf("gzip=%v: err = %v", gz, err)
		}
		if id == "" {
			t.Error("the message id of the partly sent message is not returned")
		}
	}
}

// A 2xx whose body is a MESH error is an error (NHS's client does the same).
func TestClientSendErrorIn2xxBody(t *testing.T) {
	bodies := []string{
		`{"messageID": "X", "errorEvent": "SEND", "errorCode": "12", "errorDescription": "Unregistered to address"}`,
		`{"detail": [{"event": "SEND", "code": "12", "msg": "Unregistered to address"}]}`,
	}
	for _, body := range bodies {
		f := newClFake(t)
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, body)
			return true
		}
		c := f.client(f.start(), clSender, nil)
		_, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
		e, ok := AsAPIError(err)
		if !ok || e.Code != "12" || e.StatusCode != http.StatusAccepted {
			t.Fatalf("err = %v", err)
		}
	}
}

func TestClientSendBusinessErrors(t *testing.T) {
	f := newClFake(t)
	c := f.client(f.start(), clSender, nil)
	_, err := c.Send(context.Background(), Message{To: "NOBODY1", WorkflowID: clWorkflow}, strings.NewReader("x"), 1)
	e, ok := AsAPIError(err)
	if !ok || e.StatusCode != http.StatusExpectationFailed || e.Code != "12" || e.Event != "SEND" {
		t.Fatalf("err = %v", err)
	}
	if len(f.uploads()) != 1 {
		t.Errorf("417 retried: %d uploads", len(f.uploads()))
	}
}

// A failure after the first chunk returns the id with the error.
func TestClientSendLaterChunkFails(t *testing.T) {
	f := newClFake(t)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/3") {
			w.WriteHeader(http.StatusLocked)
			return true
		}
		return false
	}
	c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 2 })
	id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, strings.NewReader("abcdef"), 6)
	if e, ok := AsAPIError(err); !ok || e.StatusCode != http.StatusLocked {
		t.Fatalf("err = %v", err)
	}
	if id == "" || f.message(id) == nil {
		t.Errorf("id %q", id)
	}
}

// The chunk buffer is reused only when no request can still read it.
func TestClientChunkBufferReuse(t *testing.T) {
	var cb chunkBuffer
	p := cb.take(8)
	copy(p, "abcdefgh")
	body := cb.bodyOf(p)
	r1 := body()
	if q := cb.take(8); &q[0] == &p[0] {
		t.Fatal("buffer reused while a reader is open")
	}
	p2 := cb.take(8)
	r2 := cb.bodyOf(p2)()
	_ = r2.Close()
	_ = r2.Close() // a second Close must not count twice
	if q := cb.take(8); &q[0] != &p2[0] {
		t.Error("buffer not reused after its reader closed")
	}
	got, _ := io.ReadAll(r1)
	if string(got) != "abcdefgh" {
		t.Errorf("the earlier reader saw %q", got)
	}
}

// *os.File bodies: a regular file is read at offsets; a pipe (stdin) is an
// *os.File that can neither seek nor ReadAt, and must be read in order.
func TestClientSendFiles(t *testing.T) {
	data := clPattern(25)
	file := func(t *testing.T) *os.File {
		f, err := os.CreateTemp(t.TempDir(), "body")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		return f
	}
	pipe := func(t *testing.T) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		go func() {
			_, _ = w.Write(data)
			w.Close()
		}()
		return r
	}
	for name, open := range map[string]func(*testing.T) *os.File{"file": file, "pipe": pipe} {
		for _, size := range []int64{-1, 25} {
			t.Run(fmt.Sprintf("%s/size=%d", name, size), func(t *testing.T) {
				f := newClFake(t)
				c := f.client(f.start(), clSender, func(cfg *Config) { cfg.ChunkSize = 10 })
				id, err := c.Send(context.Background(), Message{To: clRecipient, WorkflowID: clWorkflow}, open(t), size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.payload(id), data) || len(f.uploads()) != 3 {
					t.Errorf("payload %q in %d uploads", f.payload(id), len(f.uploads()))
				}
			})
		}
	}
}
