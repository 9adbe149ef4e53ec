package sandbox

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

func filepathGlob(dataDir, id, pattern string) ([]string, error) {
	return filepath.Glob(filepath.Join(dataDir, messagesDirName, id, pattern))
}

func TestExpiryMakesNDRAndPurges(t *testing.T) {
	for _, store := range storeKinds {
		t.Run(store, func(t *testing.T) {
			s := newSBXFor(t, store)
			id := s.send("X26ABC1", "X26ABC2", "TEST_WORKFLOW", []byte("never collected"), map[string]string{"Mex-Subject": "results", "Mex-LocalID": "L9"})
			kept := s.send("X26ABC1", "X26ABC3", "TEST_WORKFLOW", []byte("collected"), nil)
			s.clock.Advance(4*24*time.Hour + 23*time.Hour)
			if got := s.inboxV1("X26ABC2"); len(got) != 1 {
				t.Fatalf("expired too soon: %v", got)
			}
			s.ack("X26ABC3", kept)
			s.clock.Advance(2 * time.Hour) // past 5 days
			// Judged lazily, by the request that looks.
			wantError(t, s.do(req{path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2"}), 410, "SEND", "Message already accepted", "")
			if got := s.inboxV1("X26ABC2"); len(got) != 0 {
				t.Fatalf("still listed: %v", got)
			}
			tr := s.trackV2(t, "X26ABC1", id)
			if tr.Status != "undeliverable" || *tr.StatusSuccess || tr.StatusCode != "14" {
				t.Fatalf("tracking: %+v", tr)
			}
			v1 := s.trackV1(t, "X26ABC1", id)
			if v1.Status != "Undeliverable" || v1.StatusSuccess != "ERROR" || v1.FailureDiagnostic != ndrDescription || len(v1.FailureDate) != 14 {
				t.Fatalf("tracking v1: %+v", v1)
			}
			if s.trackV1(t, "X26ABC1", kept).Status != "Acknowledged" {
				t.Fatal("an acknowledged message expired")
			}
			// The sender has an NDR about it.
			inbox := s.inboxV1("X26ABC1")
			if len(inbox) != 1 {
				t.Fatalf("sender inbox %v", inbox)
			}
			ndr := inbox[0]
			r := s.do(req{path: "/messageexchange/X26ABC1/inbox/" + ndr, auth: "X26ABC1"})
			want := map[string]string{
				"Mex-MessageType": "REPORT", "Mex-StatusCode": "14", "Mex-StatusEvent": "SEND", "Mex-StatusSuccess": "ERROR",
				"Mex-StatusDescription": ndrDescription, "Mex-LinkedMsgID": id, "Mex-Subject": "NDR: results",
				"Mex-LocalID": "L9", "Mex-WorkflowID": "TEST_WORKFLOW", "Mex-To": "X26ABC2", "Mex-MessageID": ndr,
				"Content-Length": "0", "Mex-From": "", "Mex-Chunk-Range": "",
			}
			if r.status != 200 || len(r.body) != 0 {
				t.Fatalf("NDR download: %d %q", r.status, r.body)
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("NDR %s: %q, want %q", k, got, v)
				}
			}
			if len(r.header.Get("Mex-StatusTimestamp")) != 14 {
				t.Errorf("NDR timestamp %q", r.header.Get("Mex-StatusTimestamp"))
			}
			s.ack("X26ABC1", ndr)

			// 30 days after delivery everything is purged.
			s.clock.Advance(26 * 24 * time.Hour)
			wantError(t, s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking?messageID=" + id, auth: "X26ABC1"}), 404, "RECEIVE", "20", "")
			wantError(t, s.do(req{path: "/messageexchange/X26ABC1/outbox/tracking?messageID=" + kept, auth: "X26ABC1"}), 404, "RECEIVE", "20", "")
			s.clock.Advance(10 * 24 * time.Hour) // the NDR too
			if got := s.inboxV1("X26ABC1"); len(got) != 0 {
				t.Fatalf("inbox after purge %v", got)
			}
			if s.dir != "" {
				if left, _ := os.ReadDir(filepath.Join(s.dir, messagesDirName)); len(left) != 0 {
					t.Fatalf("purged messages left on disk: %d", len(left))
				}
			}
		})
	}
}

func TestAdmin(t *testing.T) {
	s := newSBX(t, withDataDir(t.TempDir()))
	t.Run("report", func(t *testing.T) {
		body := `{"mailbox_id":"x26abc1","status":"error","workflow_id":"WF1","code":"21","description":"my error",` +
			`"subject":"my subject","local_id":"my local id","file_name":"my file","linked_message_id":"abc"}`
		r := s.do(req{method: "POST", path: "/messageexchange/admin/report", body: []byte(body)})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		id := r.json(t)["message_id"].(string)
		if got := s.inboxV1("X26ABC1"); len(got) != 1 || got[0] != id {
			t.Fatalf("inbox %v", got)
		}
		r = s.do(req{path: "/messageexchange/X26ABC1/inbox/" + id, auth: "X26ABC1"})
		for k, v := range map[string]string{"Mex-To": "X26ABC1", "Mex-WorkflowID": "WF1", "Mex-MessageType": "REPORT", "Mex-StatusCode": "21",
			"Mex-StatusDescription": "my error", "Mex-FileName": "my file", "Mex-LinkedMsgID": "abc", "Mex-LocalID": "my local id",
			"Mex-StatusSuccess": "ERROR", "Mex-StatusEvent": "TRANSFER", "Mex-Subject": "my subject", "Content-Length": "0"} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		s.ack("X26ABC1", id)
		if got := s.inboxV1("X26ABC1"); len(got) != 0 {
			t.Fatalf("inbox after ack %v", got)
		}
		// Back to accepted with an event.
		r = s.do(req{method: "POST", path: "/messageexchange/admin/message/" + strings.ToLower(id) + "/event", body: []byte(`{"status":"accepted"}`)})
		if r.status != 200 {
			t.Fatalf("event: %d %s", r.status, r.body)
		}
		if got := s.inboxV1("X26ABC1"); len(got) != 1 || got[0] != id {
			t.Fatalf("inbox after event %v", got)
		}
		r = s.do(req{path: "/admin/message/" + id})
		m := r.json(t)
		if r.status != 200 || m["message_type"] != "Report" || m["status"] != "Accepted" || m["status_code"] != "21" || m["sender_name"] != centralMailboxName {
			t.Fatalf("message details: %s", r.body)
		}
	})
	t.Run("undeliverable report is an NDR", func(t *testing.T) {
		r := s.do(req{method: "POST", path: "/messageexchange/admin/report",
			body: []byte(`{"mailbox_id":"X26ABC2","workflow_id":"WF","code":"99","description":"ignored","subject":"hello"}`)})
		id := r.json(t)["message_id"].(string)
		r = s.do(req{method: "HEAD", path: "/messageexchange/X26ABC2/inbox/" + id, auth: "X26ABC2"})
		if r.header.Get("Mex-StatusCode") != "14" || r.header.Get("Mex-Subject") != "NDR: hello" || r.header.Get("Mex-StatusEvent") != "SEND" {
			t.Fatalf("NDR headers %v", r.header)
		}
	})
	t.Run("bad admin requests", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, body string
			status             int
		}{
			{"POST", "/messageexchange/admin/report", `{not json`, 400},
			{"POST", "/messageexchange/admin/report", `[]`, 400},
			{"POST", "/messageexchange/admin/report", `{"mailbox_id":"X26ABC1"}`, 400},
			{"POST", "/messageexchange/admin/report", `{"mailbox_id":"X26ABC1","code":21,"description":"d","workflow_id":"w"}`, 400},
			{"POST", "/messageexchange/admin/report", `{"mailbox_id":"X26ABC1","code":"1","description":"d","workflow_id":"w","status":"odd"}`, 400},
			{"POST", "/messageexchange/admin/report", `{"mailbox_id":"NOBODY","code":"1","description":"d","workflow_id":"w"}`, 404},
			{"POST", "/admin/message/NOPE/event", `{"status":"accepted"}`, 404},
			{"POST", "/admin/message/NOPE/event", `{"status":"sideways"}`, 400},
			{"POST", "/admin/message/NOPE/event", `{}`, 400},
			{"POST", "/admin/message/NOPE/event", ``, 400},
			{"GET", "/admin/message/NOPE", ``, 404},
			{"GET", "/admin/mailbox/NOPE", ``, 404},
			{"DELETE", "/admin/reset/NOPE", ``, 404},
		} {
			r := s.do(req{method: tc.method, path: tc.path, body: []byte(tc.body)})
			if r.status != tc.status {
				t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, r.status, r.body, tc.status)
			}
		}
	})
	t.Run("event on acknowledged data", func(t *testing.T) {
		id := s.send("X26ABC1", "X26ABC3", "WF", []byte("x"), nil)
		s.ack("X26ABC3", id)
		r := s.do(req{method: "POST", path: "/admin/message/" + id + "/event", body: []byte(`{"status":"accepted"}`)})
		if r.status != 409 {
			t.Fatalf("re-accept acknowledged data: %d %s", r.status, r.body)
		}
		r = s.do(req{method: "POST", path: "/admin/message/" + id + "/event", body: []byte(`{"status":"error","code":"99","description":"broken"}`)})
		if r.status != 200 {
			t.Fatalf("error event: %d %s", r.status, r.body)
		}
		if tr := s.trackV2(t, "X26ABC1", id); tr.Status != "error" || tr.StatusCode != "99" || tr.StatusDescription != "broken" {
			t.Fatalf("tracking %+v", tr)
		}
		// An undeliverable message can be delivered again (the service desk's re-delivery).
		id2 := s.send("X26ABC1", "X26ABC3", "WF", []byte("again"), nil)
		s.do(req{method: "POST", path: "/admin/message/" + id2 + "/event", body: []byte(`{"status":"undeliverable"}`)})
		if got := s.inboxV1("X26ABC3"); len(got) != 0 {
			t.Fatalf("undeliverable still listed: %v", got)
		}
		s.do(req{method: "POST", path: "/admin/message/" + id2 + "/event", body: []byte(`{"status":"accepted"}`)})
		if r := s.do(req{path: "/messageexchange/X26ABC3/inbox/" + id2, auth: "X26ABC3"}); r.status != 200 || string(r.body) != "again" ||
			r.header.Get("Mex-StatusSuccess") != "SUCCESS" {
			t.Fatalf("redelivered: %d %q", r.status, r.body)
		}
	})
	t.Run("mailbox details", func(t *testing.T) {
		for _, p := range []string{"/admin/mailbox/X26ABC1", "/messageexchange/admin/mailbox/x26abc1", "/messageexchange/mailbox/X26ABC1"} {
			r := s.do(req{path: p})
			if r.status != 200 || string(r.body) != `{"mailbox_id":"X26ABC1","mailbox_name":"TESTMB1","billing_entity":"England","ods_code":"X26","org_code":"X26","org_name":"","active":true}` {
				t.Errorf("%s: %d %s", p, r.status, r.body)
			}
		}
	})
	t.Run("reset", func(t *testing.T) {
		a := s.send("X26ABC1", "X26ABC2", "WF", []byte("a"), nil)
		b := s.send("X26ABC2", "X26ABC1", "WF", []byte("b"), nil)
		r := s.do(req{method: "DELETE", path: "/messageexchange/admin/reset/x26abc2"})
		if r.status != 200 || string(r.body) != `{"message":"mailbox X26ABC2 reset"}` {
			t.Fatalf("reset mailbox: %d %s", r.status, r.body)
		}
		if got := s.inboxV1("X26ABC2"); len(got) != 0 {
			t.Fatalf("X26ABC2 inbox %v", got)
		}
		if got := s.inboxV1("X26ABC1"); !contains(got, b) {
			t.Fatalf("X26ABC1 inbox %v lost %s", got, b)
		}
		if _, err := os.Stat(filepath.Join(s.dir, messagesDirName, a)); !os.IsNotExist(err) {
			t.Fatalf("reset message still on disk: %v", err)
		}
		for _, p := range []string{"/admin/reset", "/messageexchange/admin/reset"} {
			r = s.do(req{method: "DELETE", path: p})
			if r.status != 200 || string(r.body) != `{"message":"all mailboxes reset"}` {
				t.Fatalf("%s: %d %s", p, r.status, r.body)
			}
		}
		if got := s.inboxV1("X26ABC1"); len(got) != 0 {
			t.Fatalf("inbox after reset %v", got)
		}
		if left, _ := os.ReadDir(filepath.Join(s.dir, messagesDirName)); len(left) != 0 {
			t.Fatalf("files left after reset: %d", len(left))
		}
		// Nothing comes back after a restart.
		if got := s.reopen().inboxV1("X26ABC1"); len(got) != 0 {
			t.Fatalf("inbox after reset and restart %v", got)
		}
	})
}

func TestFileStoreSurvivesRestartAndCrash(t *testing.T) {
	dir := t.TempDir()
	s := newSBX(t, withDataDir(dir))
	accepted := s.send("X26ABC1", "X26ABC2", "WF", []byte("accepted message"), map[string]string{"Mex-Subject": "kept"})
	gz := gzipBytes(t, []byte("zipped"))
	zipped := s.send("X26ABC1", "X26ABC2", "WF", gz, map[string]string{"Content-Encoding": "gzip"})
	acked := s.send("X26ABC1", "X26ABC2", "WF", []byte("acknowledged"), nil)
	s.ack("X26ABC2", acked)
	r := s.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox", auth: "X26ABC1", body: []byte("part one,"),
		headers: map[string]string{"Mex-To": "X26ABC3", "Mex-WorkflowID": "WF", "Mex-Chunk-Range": "1:2"}})
	uploading := r.json(t)["messageID"].(string)
	// A v2 continue_from token taken before the restart.
	var page mesh.InboxV2
	if err := json.Unmarshal(s.do(req{path: "/messageexchange/X26ABC2/inbox?max_results=10", auth: "X26ABC2", v2: true}).body, &page); err != nil {
		t.Fatal(err)
	}
	token := encodeContinue(1, accepted) // after the first message

	// What a kill -9 can leave behind:
	root := filepath.Join(dir, messagesDirName)
	// a chunk being written for the uploading message,
	mustWrite(t, filepath.Join(root, uploading, tempPrefix+"chunk-123"), "half a chunk")
	// a metadata write cut short,
	mustWrite(t, filepath.Join(root, accepted, tempPrefix+"meta-456"), `{"message_id":`)
	// a new message whose first chunk was stored but never recorded,
	mustWrite(t, filepath.Join(root, "20250101000000000000_ABCDEF", "1"+chunkSuffix), "orphan")
	// a first chunk still being written,
	mustWrite(t, filepath.Join(root, "20250101000000000001_ABCDEF", tempPrefix+"chunk-9"), "partial")
	// chunk 2 renamed into place but not yet recorded (the client will retry),
	mustWrite(t, filepath.Join(root, uploading, "2"+chunkSuffix), "unrecorded")
	// and a stray temporary file at the top.
	mustWrite(t, filepath.Join(root, tempPrefix+"x"), "junk")
	// Plus damage no crash makes but a disk can: an accepted message that lost its chunk.
	broken := s.send("X26ABC1", "X26ABC2", "WF", []byte("will lose its chunk"), nil)
	if err := os.Remove(filepath.Join(root, broken, "1"+chunkSuffix)); err != nil {
		t.Fatal(err)
	}

	s2 := s.reopen()
	dropped := strings.Join(s2.st.droppedOnOpen(), "\n")
	for _, want := range []string{"20250101000000000000_ABCDEF: no metadata", "20250101000000000001_ABCDEF: no metadata", broken + ": chunk 1 is missing"} {
		if !strings.Contains(dropped, want) {
			t.Errorf("dropped %q lacks %q", dropped, want)
		}
	}
	if n := strings.Count(dropped, "\n") + 1; n != 3 {
		t.Errorf("%d dropped, want 3:\n%s", n, dropped)
	}
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if got := s2.inboxV1("X26ABC2"); strings.Join(got, ",") != accepted+","+zipped {
		t.Fatalf("inbox after restart %v, want [%s %s]", got, accepted, zipped)
	}
	r = s2.do(req{path: "/messageexchange/X26ABC2/inbox/" + accepted, auth: "X26ABC2"})
	if r.status != 200 || string(r.body) != "accepted message" || r.header.Get("Mex-Subject") != "kept" {
		t.Fatalf("download after restart: %d %q", r.status, r.body)
	}
	r = s2.do(req{path: "/messageexchange/X26ABC2/inbox/" + zipped, auth: "X26ABC2", headers: map[string]string{"Accept-Encoding": "gzip"}})
	if !bytes.Equal(r.body, gz) || r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip after restart: %q", r.header.Get("Content-Encoding"))
	}
	if tr := s2.trackV1(t, "X26ABC1", acked); tr.Status != "Acknowledged" {
		t.Fatalf("acknowledged after restart: %s", tr.Status)
	}
	// The token from before the restart still works.
	r = s2.do(req{path: "/messageexchange/X26ABC2/inbox?max_results=10&continue_from=" + token, auth: "X26ABC2", v2: true})
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Messages) != 1 || page.Messages[0] != zipped {
		t.Fatalf("continue after restart: %d %s", r.status, r.body)
	}
	// The upload carries on where it was.
	if tr := s2.trackV2(t, "X26ABC1", uploading); tr.Status != "uploading" {
		t.Fatalf("uploading after restart: %s", tr.Status)
	}
	r = s2.do(req{method: "POST", path: "/messageexchange/X26ABC1/outbox/" + uploading + "/2", auth: "X26ABC1",
		headers: map[string]string{"Mex-Chunk-Range": "2:2"}, body: []byte("part two")})
	if r.status != 202 {
		t.Fatalf("chunk 2 after restart: %d %s", r.status, r.body)
	}
	r1 := s2.do(req{path: "/messageexchange/X26ABC3/inbox/" + uploading, auth: "X26ABC3"})
	r2 := s2.do(req{path: "/messageexchange/X26ABC3/inbox/" + uploading + "/2", auth: "X26ABC3"})
	if r1.status != 206 || r2.status != 200 || string(r1.body)+string(r2.body) != "part one,part two" {
		t.Fatalf("download: %d %q, %d %q", r1.status, r1.body, r2.status, r2.body)
	}
	// New ids do not collide with old ones, and inbox order carries on.
	late := s2.send("X26ABC1", "X26ABC2", "WF", []byte("late"), nil)
	if got := s2.inboxV1("X26ABC2"); len(got) != 3 || got[2] != late {
		t.Fatalf("inbox %v", got)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileStoreDropsDamagedMetadata(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, messagesDirName)
	mustWrite(t, filepath.Join(root, "BADJSON", metaFileName), "{")
	mustWrite(t, filepath.Join(root, "WRONGID", metaFileName), `{"message_id":"OTHER","message_type":"DATA","status":"accepted"}`)
	mustWrite(t, filepath.Join(root, "BADSTATUS", metaFileName), `{"message_id":"BADSTATUS","message_type":"DATA","status":"sideways"}`)
	mustWrite(t, filepath.Join(root, "SHORT", metaFileName), `{"message_id":"SHORT","message_type":"DATA","status":"accepted","total_chunks":2,"chunk_sizes":[3]}`)
	mustWrite(t, filepath.Join(root, "SHORT", "1"+chunkSuffix), "abc")
	mustWrite(t, filepath.Join(root, "RESIZED", metaFileName), `{"message_id":"RESIZED","message_type":"DATA","status":"accepted","total_chunks":1,"chunk_sizes":[5]}`)
	mustWrite(t, filepath.Join(root, "RESIZED", "1"+chunkSuffix), "abc")
	mustWrite(t, filepath.Join(root, "GOOD", metaFileName), `{"message_id":"GOOD","message_type":"DATA","status":"accepted","recipient":"X26ABC2","total_chunks":1,"chunk_sizes":[3],"inbox_seq":7}`)
	mustWrite(t, filepath.Join(root, "GOOD", "1"+chunkSuffix), "abc")
	mustWrite(t, filepath.Join(root, "GOOD", "2"+chunkSuffix), "extra")
	st, err := openStore(dir, DefaultMailboxes(), nil, newFakeClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if d := st.droppedOnOpen(); len(d) != 5 {
		t.Fatalf("dropped %q", d)
	}
	if _, ok := st.messageDetails("GOOD"); !ok {
		t.Fatal("GOOD was dropped")
	}
	if _, err := os.Stat(filepath.Join(root, "GOOD", "2"+chunkSuffix)); !os.IsNotExist(err) {
		t.Fatal("unrecorded chunk kept")
	}
	if st.seq != 7 {
		t.Fatalf("seq %d", st.seq)
	}
}

func TestStoreConcurrentChunkRetries(t *testing.T) {
	// Retries of the same chunk racing each other must leave one consistent
	// message (run with -race).
	st, err := openStore(t.TempDir(), DefaultMailboxes(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.send(sendRequest{meta: msgMeta{Sender: "X26ABC1", Recipient: "X26ABC2", Total: 2}, body: strings.NewReader("one"), sizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := st.uploadChunk(chunkRequest{sender: "X26ABC1", id: id, k: 2, n: 2, body: strings.NewReader("two"), sizeHint: -1})
			done <- err
		}()
	}
	ok := 0
	for i := 0; i < 8; i++ {
		if err := <-done; err == nil {
			ok++
		} else if err != errNotUploading {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok < 1 {
		t.Fatal("no upload succeeded")
	}
	v, err := st.openChunk("X26ABC2", id, 2)
	if err != nil || v.size != 3 {
		t.Fatalf("chunk 2: %+v %v", v, err)
	}
	if p := st.listInbox("X26ABC2", 0, 10, nil); len(p.ids) != 1 {
		t.Fatalf("inbox %v", p.ids)
	}
}
