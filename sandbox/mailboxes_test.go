package sandbox

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestLoadMailboxes(t *testing.T) {
	mbs, err := LoadMailboxes("testdata/mailboxes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(mbs) != 2 || mbs[0].ID != "X26ABC1" || mbs[0].Name != "TESTMB1" || mbs[0].Password != "password" ||
		mbs[1].OrgName != "Org Two" || mbs[1].Active == nil || *mbs[1].Active || mbs[0].Active != nil {
		t.Fatalf("%+v", mbs)
	}
	if mbs, err := LoadMailboxes("testdata/mailboxes_crlf.jsonl"); err != nil || len(mbs) != 2 || mbs[1].ID != "B2" {
		t.Fatalf("CRLF, no final newline: %+v %v", mbs, err)
	}
	for _, tc := range []struct{ file, want string }{
		{"testdata/mailboxes_duplicate.jsonl", "mailboxes_duplicate.jsonl:2: mailbox X26ABC1 is defined twice (first on line 1)"},
		{"testdata/mailboxes_badjson.jsonl", "mailboxes_badjson.jsonl:2: invalid JSON"},
		{"testdata/mailboxes_noid.jsonl", `mailboxes_noid.jsonl:1: "mailbox_id" is missing`},
		{"testdata/mailboxes_badtype.jsonl", `mailboxes_badtype.jsonl:1: field "mailbox_id" has the wrong type`},
		{"testdata/mailboxes_array.jsonl", "mailboxes_array.jsonl:1: want one JSON object per line"},
		{"testdata/mailboxes_empty.jsonl", "no mailboxes"},
		{"testdata/nonexistent.jsonl", "nonexistent.jsonl"},
	} {
		_, err := LoadMailboxes(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
	if _, err := LoadMailboxes("testdata/nonexistent.jsonl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadWorkflows(t *testing.T) {
	wfs, err := LoadWorkflows("testdata/workflows.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(wfs) != 2 || wfs[0].ID != "TEST_WORKFLOW" || wfs[0].Senders[0] != "X26ABC1" || len(wfs[1].Receivers) != 2 {
		t.Fatalf("%+v", wfs)
	}
	for _, tc := range []struct{ file, want string }{
		{"testdata/workflows_duplicate.jsonl", "workflows_duplicate.jsonl:2: workflow WF is defined twice"},
		{"testdata/workflows_badtype.jsonl", `workflows_badtype.jsonl:1: field "senders" has the wrong type`},
		{"testdata/workflows_noid.jsonl", `workflows_noid.jsonl:1: "workflow_id" is missing`},
	} {
		_, err := LoadWorkflows(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestDefaultsMatchNHSSandbox(t *testing.T) {
	mbs := DefaultMailboxes()
	if len(mbs) != 3 || mbs[0].ID != "X26ABC1" || mbs[1].BillingEntity != "Wales" || mbs[2].ODSCode != "X27" {
		t.Fatalf("%+v", mbs)
	}
	for _, mb := range mbs {
		if mb.Password != "password" {
			t.Fatalf("%s password %q", mb.ID, mb.Password)
		}
	}
	wfs := DefaultWorkflows()
	if len(wfs) != 3 || wfs[2].ID != "TEST_WORKFLOW2" || len(wfs[2].Receivers) != 3 || wfs[1].Receivers[1] != "X26ABC3" {
		t.Fatalf("%+v", wfs)
	}
	// openStore refuses a duplicate mailbox even when not loaded from a file.
	if _, err := openStore("", append(DefaultMailboxes(), Mailbox{ID: "x26abc1"}), nil, nil); err == nil {
		t.Fatal("duplicate mailbox accepted")
	}
}
