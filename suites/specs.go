package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// suite registers the catalogue for one run. e is nil when the tree is
// only previewed (Catalogue): spec bodies never run then.
type suite struct {
	e        *env
	runCtx   context.Context
	progress io.Writer
	// finished are the specs' reports as each ended: the run's report
	// when Ginkgo, told to bail out (a third interrupt), skips its
	// after-suite reporting.
	finished []types.SpecReport
}

// register builds Ginkgo's spec tree. Ginkgo shuffles top-level
// containers and sorts specs by code location: one top-level container, and
// each group's container placed here (ginkgo.Offset(1)), keep the order
// declared below.
func (s *suite) register(onReport func(types.Report)) {
	ginkgo.ReportAfterEach(func(sr ginkgo.SpecReport) {
		s.finished = append(s.finished, sr)
		progressLine(s.progress, sr)
	})
	ginkgo.ReportAfterSuite("conformance report", func(r ginkgo.Report) { onReport(r) })

	ginkgo.Describe("MESH", func() {
		ginkgo.BeforeEach(func() {
			if err := s.runCtx.Err(); err != nil {
				ginkgo.AbortSuite("run interrupted: " + err.Error())
			}
			if s.e.obs.gone() {
				// Each spec would wait out its retries for the same
				// reason, which the report's root cause names once.
				ginkgo.Skip(goneSkip + "not tried (see the root cause)")
			}
		})
		s.handshakeSpecs()
		s.authSpecs()
		s.messageSpecs()
		s.chunkedSpecs()
		s.compressionSpecs()
		s.paginationSpecs()
		s.lookupSpecs()
		s.errorSpecs()
	})
}

// spec declares one catalogue entry: its ID, the sentence of what MESH
// MUST do, its labels, and a body that gets a context cancelled by the
// spec's end, Ginkgo's interrupt or the run's context.
func (s *suite) spec(id, must string, labels []string, body func(ctx context.Context)) {
	ginkgo.It(id+" "+must, ginkgo.Label(labels...), ginkgo.Offset(1), func(sc ginkgo.SpecContext) {
		ctx, cancel := s.ctx(sc)
		defer cancel()
		body(ctx)
	})
}

func (s *suite) ctx(sc context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(sc)
	stop := context.AfterFunc(s.runCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

func labels(l ...string) []string { return l }

// goneSkip starts the reason of a spec skipped because MESH had stopped
// answering.
const goneSkip = "MESH stopped answering: "

// step is a prerequisite several specs share (send the message, wait for
// its delivery): done once, by whichever selected spec needs it first.
// When it fails, that spec fails with the reason and later specs that need
// it are skipped, naming it.
type step struct {
	name string
	done bool
	err  error
}

func (s *suite) need(st *step, fn func() error) {
	if !st.done {
		st.done = true
		st.err = fn()
		if st.err != nil {
			s.failf("%s: %s", st.name, oneLine(st.err.Error()))
		}
		return
	}
	if st.err != nil {
		ginkgo.Skip(fmt.Sprintf("needs %q, which failed in an earlier spec: %s", st.name, oneLine(st.err.Error())))
	}
}

// failf fails the spec with a sentence that says what MESH did and what it
// must do. Once the run has been stopped, a request that failed for that
// reason is not MESH's failure: the spec is reported aborted instead.
func (s *suite) failf(format string, args ...any) {
	if err := s.runCtx.Err(); err != nil {
		ginkgo.AbortSuite("run interrupted: "+err.Error(), 1)
	}
	ginkgo.Fail(fmt.Sprintf(format, args...), 1)
}

// entry records a fact about what the server did.
func entry(name string, value any) { ginkgo.AddReportEntry(name, fmt.Sprint(value)) }

// statusOf is the HTTP status of a MESH error, 0 for other errors.
func statusOf(err error) int {
	if e, ok := mesh.AsAPIError(err); ok {
		return e.StatusCode
	}
	return 0
}

// codeOf is the MESH error code of an error, if it had one.
func codeOf(err error) string {
	if e, ok := mesh.AsAPIError(err); ok {
		return e.Code
	}
	return ""
}

// expectStatus fails unless err is a MESH answer with one of the statuses.
func (s *suite) expectStatus(err error, what string, want ...int) {
	ginkgo.GinkgoHelper()
	if err == nil {
		s.failf("MESH accepted %s; it MUST answer %s", what, statusList(want))
	}
	got := statusOf(err)
	if got == 0 {
		s.failf("%s: no answer from MESH: %s", what, oneLine(err.Error()))
	}
	entry("status", got)
	if c := codeOf(err); c != "" {
		entry("error_code", c)
	}
	for _, w := range want {
		if got == w {
			return
		}
	}
	s.failf("MESH answered %d to %s; it MUST answer %s (%s)", got, what, statusList(want), oneLine(err.Error()))
}

func statusList(codes []int) string {
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d %s", c, http.StatusText(c)))
	}
	return strings.Join(parts, " or ")
}

// wait polls fn with Gomega's Eventually until it returns nil, every poll
// interval for at most the run's timeout. A *fatalError stops it at once.
// The error names what was awaited and the last reason it was not so.
func (s *suite) wait(ctx context.Context, what string, fn func() error) error {
	return s.waitFor(ctx, what, s.e.opts.Timeout, fn)
}

// waitFor is wait bounded by timeout instead of the run's timeout.
func (s *suite) waitFor(ctx context.Context, what string, timeout time.Duration, fn func() error) error {
	var last error
	fatal := false
	g := gomega.NewGomega(func(string, ...int) {})
	ok := g.Eventually(ctx, func() error {
		err := fn()
		last = err
		var f *fatalError
		if errors.As(err, &f) {
			fatal = true
			last = f.err
			return gomega.StopTrying(what).Wrap(f.err)
		}
		return err
	}).WithTimeout(timeout).WithPolling(s.e.opts.PollInterval).Should(gomega.Succeed())
	switch {
	case ok:
		return nil
	case fatal:
		return last
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), last)
	case last == nil:
		return fmt.Errorf("%s: not so after %s", what, timeout)
	}
	return fmt.Errorf("%s: not so after %s: %w", what, timeout, last)
}

// fatalError stops a wait: asking again cannot help.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }

// listed reports whether id is in the recipient's inbox (all pages).
func (s *suite) listed(ctx context.Context, c *mesh.Client, id string) (bool, error) {
	ids, err := c.ListAll(ctx, mesh.ListOptions{})
	if err != nil {
		return false, err
	}
	for _, got := range ids {
		if strings.EqualFold(got, id) {
			return true, nil
		}
	}
	return false, nil
}

// awaitDelivery waits until every id is listed in the recipient's inbox.
func (s *suite) awaitDelivery(ctx context.Context, ids ...string) error {
	start := time.Now()
	err := s.wait(ctx, "delivery to the recipient's inbox", func() error {
		all, err := s.e.receive.ListAll(ctx, mesh.ListOptions{})
		if err != nil {
			if st := statusOf(err); st != 0 && st < 500 {
				return &fatalError{err}
			}
			return err
		}
		have := map[string]bool{}
		for _, id := range all {
			have[strings.ToUpper(id)] = true
		}
		missing := 0
		for _, id := range ids {
			if !have[strings.ToUpper(id)] {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d message(s) not listed yet", missing, len(ids))
		}
		return nil
	})
	if err == nil {
		entry("delivered_after", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// realStyleID is the id format of the real service:
// yyyyMMddHHmmss + fraction + "_" + six hex digits.
var realStyleID = regexp.MustCompile(`^[0-9]{14,20}_[0-9A-Fa-f]{6}$`)

func idFormat(id string) string {
	if realStyleID.MatchString(id) {
		return "real MESH style (timestamp_hex)"
	}
	return "other (opaque; accepted)"
}

// unknownMessageID has the real id format but a date no message can have
// (MESH purges messages after 30 days).
const unknownMessageID = "20000101000000000000_0C0FFE"

// noSuchMailbox is a recipient no MESH can have: mailbox ids are letters
// and digits, so a message to it can never reach anybody.
const noSuchMailbox = "NO-SUCH-MAILBOX-MESHDOCTOR"
