package suites

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// Options configure one run of the catalogue.
type Options struct {
	// Target says where MESH is, who sends (Credentials), to whom
	// (Recipient; the sender's own mailbox when empty) and on which
	// workflow.
	Target mesh.Target
	// TLS is the client identity and trust anchors (Target.TLSConfig, or a
	// sandbox's ClientTLSConfig). nil means the system defaults.
	TLS *tls.Config
	// RecipientCredentials sign the receiving side when Target.Recipient is
	// another mailbox. Without them the suite sends to the sender's own
	// mailbox: it never sends a message it cannot receive and acknowledge.
	RecipientCredentials *mesh.Credentials

	// LabelFilter is a Ginkgo label expression ("send && !chunked").
	LabelFilter string
	// Focus runs only the specs whose text (ID included) matches one of
	// these regular expressions.
	Focus []string
	// FailFast stops at the first failed spec (cleanup still runs).
	FailFast bool

	// Timeout bounds each request and each wait for something MESH does
	// asynchronously (delivery, a tracking status). Default 2 minutes: real
	// MESH delivery is not instant.
	Timeout time.Duration
	// PollInterval is how often a wait asks again. Default 5 seconds.
	PollInterval time.Duration
	// ChunkSize is the chunk size of the chunked specs. Default 6 MiB: NHS
	// asks for chunks over 5 MB except the last. Use small chunks against a
	// local sandbox.
	ChunkSize int64
	// LookupODS is the ODS code the endpoint lookup specs ask about
	// (default X26, the test organisation of NHS's sandbox).
	LookupODS string

	// AllowLive must be set to run against the live service; even then
	// only the live-safe specs run.
	AllowLive bool

	// CleanUpEarlierRuns acknowledges, before the specs, the messages
	// earlier meshdoctor runs sent from this mailbox and left in the
	// inbox, when they are older than a run can last; each is listed in
	// the report. Messages of other senders are never acknowledged, even
	// when their local ID looks like meshdoctor's.
	CleanUpEarlierRuns bool

	// Progress receives a line per finished spec; nil for none. Ginkgo's
	// own reporter never writes anywhere.
	Progress io.Writer

	// spineCAs replaces pki's table of NHS CAs in the live guard; runID
	// the run's random ID. Settable by this package's tests only.
	spineCAs []pki.SpineCA
	runID    string

	// ackGoneWait bounds MESH-ACK-003's wait (DefaultAckGoneWait, or the
	// timeout when shorter); settable by this package's tests only.
	ackGoneWait time.Duration
}

// Defaults of Options.
const (
	DefaultTimeout      = 2 * time.Minute
	DefaultPollInterval = 5 * time.Second
	DefaultChunkSize    = 6 << 20
	DefaultLookupODS    = "X26"
	// DefaultAckGoneWait bounds the wait for an acknowledged message to
	// stop being served: MESH removes it at once, so a server that still
	// serves it after this will not stop; waiting out the whole timeout
	// would only download it again and again.
	DefaultAckGoneWait = 15 * time.Second

	// MaxChunkSize is MESH's limit on one request: 100 MB (mesh-api.md
	// §5.1; 20 MB was the old limit over the internet). A larger chunk
	// would only be refused, after being built and uploaded.
	MaxChunkSize = 100_000_000
)

// LocalIDPrefix starts the mex-LocalID of every message the suite sends,
// followed by the run's ID. The prefix alone never makes a message the
// run's own: the clean-up also wants the run's ID and the run's mailbox as
// the sender, read from the message's headers.
const LocalIDPrefix = "meshdoctor-conform-"

// ErrLiveRefused is returned when the target is the live service and
// Options.AllowLive is not set.
var ErrLiveRefused = errors.New("refusing to run the conformance suites against live MESH: pass --allow-live to run the live-safe specs (a handshake and one small message to your own mailbox)")

// ConfigError is an option the suite cannot run with; the caller's
// mistake, not MESH's. A refusal of live MESH found by evidence (the
// server's certificate) is one too, and unwraps to ErrLiveRefused.
type ConfigError struct {
	Msg string
	err error
}

func (e *ConfigError) Error() string { return e.Msg }
func (e *ConfigError) Unwrap() error { return e.err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// Validate reports what would stop Run before it starts (a *ConfigError or
// ErrLiveRefused), so a caller can refuse bad input before doing anything
// else, such as running the checks first.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults fills the zero fields and checks what Ginkgo would otherwise
// check by exiting the process.
func (o Options) withDefaults() (Options, error) {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.LookupODS == "" {
		o.LookupODS = DefaultLookupODS
	}
	if o.ackGoneWait == 0 {
		o.ackGoneWait = DefaultAckGoneWait
	}
	o.ackGoneWait = min(o.ackGoneWait, o.Timeout)
	switch {
	case o.Timeout < 0:
		return o, configErrorf("timeout %s is negative", o.Timeout)
	case o.PollInterval < 0:
		return o, configErrorf("poll interval %s is negative", o.PollInterval)
	case o.PollInterval > o.Timeout:
		return o, configErrorf("poll interval %s is longer than the timeout %s", o.PollInterval, o.Timeout)
	case o.ChunkSize < 16:
		return o, configErrorf("chunk size %d is too small (at least 16 bytes)", o.ChunkSize)
	case o.ChunkSize > MaxChunkSize:
		return o, configErrorf("chunk size %d is larger than MESH's limit of 100 MB (%d bytes) per request", o.ChunkSize, MaxChunkSize)
	}
	if err := checkFilters(o.LabelFilter, o.Focus); err != nil {
		return o, err
	}
	t := &o.Target
	t.Credentials.Mailbox = strings.TrimSpace(t.Credentials.Mailbox)
	t.Recipient = strings.ToUpper(strings.TrimSpace(t.Recipient))
	if t.Recipient == "" {
		t.Recipient = t.Credentials.Mailbox
	}
	switch {
	case t.Credentials.Mailbox == "":
		return o, configErrorf("no mailbox: the suites need the mailbox id to test")
	case t.Credentials.Mailbox != strings.ToUpper(t.Credentials.Mailbox):
		// Not corrected: the user's own client would be refused with 403.
		return o, configErrorf("mailbox %q has lower-case letters; MESH refuses tokens that do not use the upper-case id: use %s", t.Credentials.Mailbox, strings.ToUpper(t.Credentials.Mailbox))
	case t.Credentials.Password == "":
		return o, configErrorf("no mailbox password (MESH_MAILBOX_PASSWORD)")
	case t.Credentials.SharedKey == "":
		return o, configErrorf("no shared key (MESH_SHARED_KEY)")
	case t.Workflow == "":
		return o, configErrorf("no workflow: the suites send on a workflow your mailbox may use (--workflow)")
	}
	if t.Recipient != t.Credentials.Mailbox {
		rc := o.RecipientCredentials
		if rc == nil || rc.Password == "" {
			return o, configErrorf("recipient %s is another mailbox: the suites also receive and acknowledge what they send, so they need its password (MESH_RECIPIENT_PASSWORD); or drop the recipient to send to your own mailbox", t.Recipient)
		}
		c := *rc
		c.Mailbox = t.Recipient
		if c.SharedKey == "" {
			c.SharedKey = t.Credentials.SharedKey
		}
		o.RecipientCredentials = &c
	} else {
		o.RecipientCredentials = nil
	}
	if _, err := t.BaseURL(); err != nil {
		return o, &ConfigError{Msg: err.Error()}
	}
	if t.IsLive() {
		if !o.AllowLive {
			return o, ErrLiveRefused
		}
		o.LabelFilter = liveSafeOnly(o.LabelFilter)
	}
	return o, nil
}

// liveSafeOnly narrows a label filter to the live-safe specs: live MESH
// gets only what is safe there, whatever else was asked for.
func liveSafeOnly(filter string) string {
	if filter == "" {
		return LabelLiveSafe
	}
	return LabelLiveSafe + " && (" + filter + ")"
}

// checkFilters refuses a label filter or focus Ginkgo could not read:
// Ginkgo itself would print to stderr and exit the process.
func checkFilters(labelFilter string, focus []string) error {
	if labelFilter != "" {
		if _, err := types.ParseLabelFilter(labelFilter); err != nil {
			return configErrorf("label filter %q: %s", labelFilter, oneLine(ansi.ReplaceAllString(err.Error(), "")))
		}
	}
	for _, f := range focus {
		if _, err := regexp.Compile(f); err != nil {
			return configErrorf("focus %q is not a regular expression: %v", f, err)
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ansi matches the colour codes Ginkgo puts in its error messages.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")
