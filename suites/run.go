package suites

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/onsi/ginkgo/v2/extensions/globals"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
)

// suiteName is the Ginkgo suite description.
const suiteName = "MESH conformance"

// ginkgoMu serialises Run and Catalogue: Ginkgo's spec tree, its
// configuration and Gomega's fail handler are process-wide, so one suite
// runs at a time in a process.
var ginkgoMu sync.Mutex

// Run runs the catalogue (or the part Options selects) against
// Options.Target and returns a report of every spec. The error is for runs
// that could not start: a *ConfigError or ErrLiveRefused (the caller's
// input); failed specs are in the
// report, not the error.
//
// Cancelling ctx stops the run: the current spec's requests are cancelled,
// the remaining specs are aborted, and the clean-up still acknowledges what
// was sent.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	hard := hardStop(ctx)
	e, err := newEnv(o, hard)
	if err != nil {
		return nil, err
	}
	defer e.close()

	if err := ginkgoWouldExit(); err != nil {
		return nil, err
	}
	// One handshake first: when MESH cannot be reached at all (no answer,
	// TLS refused), every spec would fail for that one reason, one after
	// another, each waiting out its timeout. Say it once instead. It also
	// looks at what answers: a server that shows itself as live MESH is
	// refused here, before anything is sent.
	pf := preflight(ctx, o)
	switch {
	case ctx.Err() != nil:
		return e.stopped(Skipped("skipped: interrupted during the preflight handshake, before any spec ran"), "interrupted during the preflight handshake: nothing was sent"), nil
	case pf.live != "" && !o.AllowLive:
		return nil, &ConfigError{Msg: ErrLiveRefused.Error() + " (" + pf.live + ")", err: ErrLiveRefused}
	case pf.err != nil:
		what := "MESH could not be reached: "
		if isDropped(pf.err) {
			what = "the connection to MESH was dropped "
		}
		r := Skipped("skipped: " + what + pf.err.Error() + " (run 'meshdoctor check' for a diagnosis)")
		return e.stopped(r, "preflight handshake failed before any spec ran"), nil
	case pf.live != "":
		// Allowed, and live by the evidence: only what is safe there.
		o.LabelFilter = liveSafeOnly(o.LabelFilter)
		e.opts = o
	}

	// Before any spec, a look at the inbox: who else's messages wait there
	// (never touched), and what earlier runs left.
	e.survey(ctx)

	var report *Report
	var finished []types.SpecReport
	sel := newSelector(o.LabelFilter, o.Focus)
	started := time.Now()
	func() {
		ginkgoMu.Lock()
		defer ginkgoMu.Unlock()
		restore := quietGinkgo()
		defer restore()

		s := &suite{e: e, runCtx: ctx, progress: o.Progress}
		s.register(func(r types.Report) { report = newReport(r, sel) })
		defer func() { finished = s.finished }()

		sc := suiteConfig()
		sc.LabelFilter = o.LabelFilter
		sc.FocusStrings = o.Focus
		sc.FailFast = o.FailFast
		if d, ok := ctx.Deadline(); ok {
			sc.Timeout = max(time.Until(d), time.Second)
		}
		ginkgo.RunSpecs(failRecorder{}, suiteName, sc, reporterConfig())
	}()
	// The clean-up runs here, outside Ginkgo: Ginkgo gives up its
	// after-suite nodes at a second interrupt, and the clean-up must then
	// still say what it left.
	e.finish(ctx.Err() != nil)

	if report == nil {
		if ctx.Err() == nil {
			return nil, errors.New("conformance suite ended without a report")
		}
		// Ginkgo bailed out (a third interrupt) before its reporting: the
		// specs that ended say what ran; the rest did not.
		report = newReport(types.Report{StartTime: started, RunTime: time.Since(started), SpecReports: finished}, sel)
		report.addNotRun("not run: the run was interrupted")
	}
	report.RunID = e.runID
	report.Cleanup = e.cleanup
	goneSkipped := 0
	for _, sp := range report.Specs {
		if sp.Status == StatusSkipped && strings.Contains(sp.Failure, goneSkip) {
			goneSkipped++
		}
	}
	report.RootCause = e.obs.rootCause(report.Summary.Bad(), goneSkipped)
	if report.RootCause != "" {
		// The cause is said once; each failure keeps its first words.
		for i := range report.Specs {
			report.Specs[i].Failure = capText(report.Specs[i].Failure, maxFailureWithCause)
		}
	}
	return report, nil
}

// stopped completes the report of a run that ended before its specs.
func (e *env) stopped(r *Report, setup string) *Report {
	r.RunID = e.runID
	r.Setup = append(r.Setup, setup)
	r.Cleanup.Untouched = len(e.others)
	return r
}

// hardStopKey carries the context of the second interrupt.
type hardStopKey struct{}

// WithHardStop returns ctx carrying hard, the second interrupt: cancelling
// ctx (the first) stops the specs and sending, and the clean-up then
// acknowledges what the run sent; cancelling hard stops the clean-up too,
// and the report names every message left behind. Without it only ctx
// counts, and the clean-up is bounded by its own time limit.
func WithHardStop(ctx, hard context.Context) context.Context {
	return context.WithValue(ctx, hardStopKey{}, hard)
}

func hardStop(ctx context.Context) context.Context {
	if h, ok := ctx.Value(hardStopKey{}).(context.Context); ok && h != nil {
		return h
	}
	return context.Background()
}

// CatalogueEntry is a spec as the catalogue lists it.
type CatalogueEntry struct {
	ID     string   `json:"id"`
	Text   string   `json:"text"`
	Labels []string `json:"labels"`
}

// Catalogue lists every spec, in run order, from Ginkgo's PreviewSpecs;
// nil in the one case where Ginkgo would exit the process instead (see
// ginkgoWouldExit).
func Catalogue() []CatalogueEntry {
	if ginkgoWouldExit() != nil {
		return nil
	}
	ginkgoMu.Lock()
	defer ginkgoMu.Unlock()
	restore := quietGinkgo()
	defer restore()
	s := &suite{runCtx: context.Background()}
	s.register(func(types.Report) {})
	r := ginkgo.PreviewSpecs(suiteName, suiteConfig(), reporterConfig())
	var out []CatalogueEntry
	for _, sr := range r.SpecReports {
		if !isSpec(sr) {
			continue
		}
		id, must := splitText(sr.LeafNodeText)
		out = append(out, CatalogueEntry{ID: id, Text: must, Labels: sr.Labels()})
	}
	return out
}

// ginkgoWouldExit says why Ginkgo would end the process rather than run:
// an unreadable working directory, or, inside a test binary, `go test
// -count` other than 1 or `-parallel` (Ginkgo's own configuration check).
// The meshdoctor binary defines no such flags.
func ginkgoWouldExit() error {
	if _, err := os.Getwd(); err != nil {
		return fmt.Errorf("conformance suites: the working directory is unreadable: %w", err)
	}
	set := map[string]string{}
	flag.CommandLine.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	for _, name := range []string{"count", "test.count"} {
		if v, ok := set[name]; ok && v != "1" {
			return &ConfigError{Msg: "conformance suites: Ginkgo refuses to run under go test -count=" + v + ": use -count=1"}
		}
	}
	for _, name := range []string{"parallel", "test.parallel"} {
		if _, ok := set[name]; ok {
			return &ConfigError{Msg: "conformance suites: Ginkgo refuses to run under go test -parallel: drop the flag"}
		}
	}
	return nil
}

// Skipped is the report of a run that did not happen: every spec
// skipped, with why (for example "mesh.handshake failed"), so that a
// report can still list the catalogue.
func Skipped(why string) *Report {
	return (&Report{Started: time.Now()}).addNotRun(why)
}

// quietGinkgo gives Ginkgo a fresh spec tree and a reporter that writes
// nowhere (its default reporter writes to stdout, which belongs to the
// caller's report), and undoes both afterwards.
func quietGinkgo() (restore func()) {
	globals.Reset()
	gomega.RegisterFailHandler(ginkgo.Fail)
	prev := formatter.ColorableStdOut
	formatter.ColorableStdOut = io.Discard
	return func() {
		formatter.ColorableStdOut = prev
		globals.Reset()
	}
}

// suiteConfig is Ginkgo's configuration for an in-process run: one
// process (the flows are ordered and stateful), declaration order.
func suiteConfig() types.SuiteConfig {
	sc := types.NewDefaultSuiteConfig()
	sc.ParallelProcess, sc.ParallelTotal = 1, 1
	sc.RandomSeed = 1
	sc.RandomizeAllSpecs = false
	sc.Timeout = 24 * time.Hour
	sc.GracePeriod = 30 * time.Second
	return sc
}

func reporterConfig() types.ReporterConfig {
	rc := types.NewDefaultReporterConfig()
	rc.NoColor = true
	rc.Succinct = true
	return rc
}

// failRecorder is the testing.T stand-in RunSpecs wants; the verdict is
// read from the report instead.
type failRecorder struct{}

func (failRecorder) Fail() {}

// progressLine is the line Options.Progress gets when a spec ends.
func progressLine(w io.Writer, sr types.SpecReport) {
	if w == nil || !isSpec(sr) {
		return
	}
	id, _ := splitText(sr.LeafNodeText)
	line := fmt.Sprintf("%-11s %-20s %s", sr.State, id, sr.RunTime.Round(time.Millisecond))
	if sr.State.Is(types.SpecStateFailureStates) {
		line += "  " + oneLine(sr.Failure.Message)
	}
	fmt.Fprintln(w, line)
}

// preflightResult is what the one handshake before the specs found.
type preflightResult struct {
	// err is a failure below HTTP: MESH is not there to judge.
	err error
	// live names the evidence that the server is live MESH, "" when none.
	live string
}

// preflight makes one handshake, without retries but one: a connection
// dropped mid-exchange is tried once more before the suites are skipped
// (and named "dropped", not "unreachable"). Any HTTP answer, even a
// refusal, means MESH is there and the specs can judge it. It waits at
// least 10 s whatever the specs' timeout, since it asks only whether MESH
// is there at all: a slow MESH is the specs' to judge. It also reads the
// server's certificates for evidence of live MESH.
func preflight(ctx context.Context, o Options) preflightResult {
	base, err := o.Target.BaseURL()
	if err != nil {
		return preflightResult{err: err}
	}
	var tlsCfg *tls.Config
	if o.TLS != nil {
		tlsCfg = o.TLS.Clone()
	} else {
		tlsCfg = &tls.Config{}
	}
	ev := &liveEvidence{table: o.spineCAs, roots: tlsCfg.RootCAs}
	tlsCfg.VerifyConnection = chainVerify(tlsCfg.VerifyConnection, ev.see)
	c, err := mesh.NewClient(mesh.Config{BaseURL: base, Credentials: o.Target.Credentials, TLS: tlsCfg,
		MaxRetries: -1, Timeout: max(o.Timeout, 10*time.Second), ClientVersion: clientVersion(), ProxySettings: &o.Target.Proxy})
	if err != nil {
		return preflightResult{err: err}
	}
	defer c.CloseIdleConnections()
	var r preflightResult
	for attempt := 1; ; attempt++ {
		err = c.Handshake(ctx)
		if _, isAPI := mesh.AsAPIError(err); err == nil || isAPI {
			err = nil
			break
		}
		if !isDropped(err) || ctx.Err() != nil {
			break
		}
		if attempt == 2 {
			err = fmt.Errorf("twice, closed or reset before MESH answered (tried once more): %w", err)
			break
		}
	}
	if err != nil {
		ev.seeFailed(err)
	}
	r.err = err
	r.live = ev.found()
	return r
}

// chainVerify runs the evidence hook see, then the VerifyConnection hook
// already set, whose refusal stands. see comes first: a verification done
// by hand (mesh.Target.TLSConfig) refuses a live host reached by its IP
// address in its own hook, and the certificates are evidence all the same.
func chainVerify(prev, see func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		err := see(cs)
		if prev != nil {
			if perr := prev(cs); perr != nil {
				return perr
			}
		}
		return err
	}
}
