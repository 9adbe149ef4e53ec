package suites

import (
	"context"
	"testing"
	"time"
)

func TestWholeCatalogueOnSandbox(t *testing.T) {
	srv, o := startSandbox(t)
	start := time.Now()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for _, s := range r.Specs {
		t.Logf("%-8s %-20s %s %v", s.Status, s.ID, s.Failure, s.Entries)
	}
	t.Logf("%s in %s; cleanup %+v", r.Summary.Line(), took, r.Cleanup)
	for _, s := range r.Specs {
		if s.Status != StatusPassed {
			t.Errorf("%s %s: %s", s.ID, s.Status, s.Failure)
		}
	}
	if ids := inbox(t, srv, o.Target.Credentials.Mailbox); len(ids) != 0 {
		t.Errorf("inbox holds %d message(s) after the run: %v", len(ids), ids)
	}
}
