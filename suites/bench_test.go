package suites

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkChunked20MiB runs the chunked specs with 20 MiB chunks (NHS's
// AWS client's size; a 50 MiB message in three chunks) against the
// embedded sandbox and reports the throughput each way, as the specs
// record it.
func BenchmarkChunked20MiB(b *testing.B) {
	_, o := startSandbox(b)
	o.ChunkSize = 20 << 20
	o.Timeout = time.Minute
	o.Focus = []string{"MESH-CHUNK-001", "MESH-CHUNK-003"}
	var up, down float64
	runs := 0
	for b.Loop() {
		r, err := Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		specs := byID(r)
		for _, id := range o.Focus {
			if specs[id].Status != StatusPassed {
				b.Fatalf("%s %s: %s", id, specs[id].Status, specs[id].Failure)
			}
		}
		up += entryFloat(b, specs["MESH-CHUNK-001"], "upload_mib_per_s")
		down += entryFloat(b, specs["MESH-CHUNK-003"], "download_mib_per_s")
		runs++
	}
	b.SetBytes(2 * (50 << 20))
	b.ReportMetric(up/float64(runs), "up-MiB/s")
	b.ReportMetric(down/float64(runs), "down-MiB/s")
}

func entryFloat(b *testing.B, s Spec, name string) float64 {
	for _, e := range s.Entries {
		if e.Name == name {
			v, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				b.Fatalf("%s %s = %q: %v", s.ID, name, e.Value, err)
			}
			return v
		}
	}
	b.Fatalf("%s recorded no %s", s.ID, name)
	return 0
}
