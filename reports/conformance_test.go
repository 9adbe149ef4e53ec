package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/suites"
)

func TestWriteConformance(t *testing.T) {
	rep := &suites.Report{
		Specs: []suites.Spec{
			{ID: "MESH-SEND-001", Text: "MESH MUST accept a message.", Labels: []string{"send"}, Status: suites.StatusPassed, Selected: true,
				Entries: []suites.Entry{{Name: "message_id", Value: "20261129050421935181_901E98"}}},
			{ID: "MESH-AUTH-003", Text: "MESH MUST refuse a replayed token.", Labels: []string{"negative"}, Status: suites.StatusFailed, Selected: true,
				Failure: "MESH ACCEPTED a replayed token", Entries: []suites.Entry{{Name: "status", Value: "200"}}},
			{ID: "MESH-RECEIVE-001", Text: "MESH MUST list it.", Status: suites.StatusSkipped, Selected: true, Failure: "needs \"send\""},
			{ID: "MESH-PAGE-001", Text: "MESH MUST page.", Status: suites.StatusSkipped, Failure: "not selected by the label filter or focus"},
			{ID: "MESH-CHUNK-001", Text: "MESH MUST chunk.", Status: suites.StatusTimedout, Selected: true, Failure: "took too long"},
		},
		Cleanup: suites.CleanupReport{Sent: 2, Acknowledged: 1, Drained: 1, Leftovers: []string{"X: not delivered"},
			Remove: "acknowledge each id", Untouched: 3,
			Earlier: &suites.EarlierRuns{Waiting: 2, Oldest: time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)}},
		RunID:     "20261129T060000Z-0123456789ab",
		RootCause: "MESH answered 500 Internal Server Error to every one of the 40 requests",
		Started:   time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC),
	}
	rep.Summary = suites.Summary{Total: 5, Passed: 1, Failed: 1, Skipped: 2, Timedout: 1, NotSelected: 1}
	tests := []struct {
		name      string
		opts      TextOptions
		want, not []string
	}{
		{
			name: "plain",
			want: []string{
				"  PASS  MESH-SEND-001       MESH MUST accept a message.\n",
				"  FAIL  MESH-AUTH-003       MESH MUST refuse a replayed token.\n        why: MESH ACCEPTED a replayed token\n        status: 200\n",
				"  SKIP  MESH-RECEIVE-001    MESH MUST list it.\n        why: needs \"send\"\n",
				"  TIMEDOUT MESH-CHUNK-001",
				"Root cause: MESH answered 500 Internal Server Error to every one of the 40 requests\n",
				"Clean-up: 2 message(s) sent, 1 acknowledged; 1 message(s) of earlier runs acknowledged (run 20261129T060000Z-0123456789ab)\n",
				"  left in the inbox: X: not delivered\n  to remove them: acknowledge each id\n",
				"  earlier runs: 2 messages from earlier meshdoctor runs wait in the inbox, the oldest 3 days (not touched;",
				"  3 other message(s) in the inbox are not this run's: never downloaded or acknowledged\n",
				"1 passed, 2 failed, 1 skipped, 1 not selected\n",
			},
			not: []string{"MESH-PAGE-001", "message_id", "\x1b["},
		},
		{
			name: "verbose and colour",
			opts: TextOptions{Verbose: true, Color: true},
			want: []string{"message_id: 20261129050421935181_901E98", "\x1b[32mPASS \x1b[0m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteConformance(&b, rep, tt.opts); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("output has %q:\n%s", n, b.String())
				}
			}
		})
	}
}
