package checks

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var authClock = Check{
	ID:    "auth.clock",
	Title: "This machine's clock agrees with MESH's (tokens are valid for 2 hours either side)",
	Needs: []string{"tcp.connect"},
	After: []string{"tls.server"},
	Run:   judgeClock,
}

// Clock thresholds: MESH refuses tokens more than 2 hours from its clock;
// 5 minutes is already a machine that does not keep time.
const clockWarn = 5 * time.Minute

func judgeClock(ctx context.Context, f *Facts) Verdict {
	x := f.Exchange(ctx)
	if x.NotSent != "" {
		return Skipf("skipped: no answer from MESH to read its clock from (%s)", x.NotSent)
	}
	if x.Err != nil || x.Header == nil {
		return Skipf("skipped: no answer from MESH to read its clock from")
	}
	date := x.Header.Get("Date")
	server, err := http.ParseTime(date)
	if err != nil {
		return Skipf("skipped: MESH's answer has no readable Date header (%q)", date)
	}
	local := x.Sent.Add(x.Received.Sub(x.Sent) / 2)
	offset := server.Sub(local).Round(time.Second)
	if offset.Abs() > time.Minute {
		// The Date header has whole seconds: past a minute, say minutes.
		offset = offset.Round(time.Minute)
	}
	v := func(v Verdict) Verdict {
		return v.With("local clock (UTC)", local.UTC().Format(time.RFC3339)).With("server Date", date).
			With("offset", "this machine is "+describeOffset(offset)+" MESH")
	}
	abs := offset.Abs()
	switch {
	case abs > mesh.TokenWindow:
		return v(Failf("this machine's clock is %s: every token will be refused (MESH allows 2 hours)", clockSentence(offset))).
			Fix("Set this machine's clock right (UTC; enable NTP: 'timedatectl set-ntp true' on Linux, 'w32tm /resync' on Windows). Tokens carry UTC time: a wrong time zone setting has the same effect.")
	case abs > clockWarn:
		return v(Warnf("this machine's clock is %s", clockSentence(offset))).
			Fix("Enable time synchronisation (NTP): tokens stop working once the clocks are 2 hours apart.")
	}
	if abs <= time.Second {
		return v(Passf("clock within a second of MESH's (the Date header's precision)"))
	}
	return v(Passf("clock within %s of MESH's", abs))
}

func describeOffset(d time.Duration) string {
	switch {
	case d > 0:
		return fmt.Sprintf("%s behind", d)
	case d < 0:
		return fmt.Sprintf("%s ahead of", -d)
	}
	return "level with"
}

// clockSentence is "N behind MESH's" or "N ahead of MESH's".
func clockSentence(d time.Duration) string {
	return describeOffset(d) + " MESH's"
}
