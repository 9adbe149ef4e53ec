package suites

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// A run owns a message when it sent it: the message's sender is the run's
// own mailbox AND its local ID carries the run's ID. Both are read from
// the message's headers (HEAD) before anything is acknowledged; a local ID
// that merely looks like meshdoctor's proves nothing, since anyone can send
// one. Where HEAD leaves the sender or the local ID out (GET has them;
// HEAD's set is not pinned down), the sender's own tracking stands in:
// MESH tracks a message only for the mailbox that sent it.

// runIDFormat is a run ID: when the run started (UTC, to the second) and 48
// random bits, so that the age of an earlier run's leftovers is known from
// their local ID alone and two runs started in the same second differ.
var runIDFormat = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

// localIDFormat is the mex-LocalID of a message a run sends: the prefix,
// the run ID, the purpose.
var localIDFormat = regexp.MustCompile(`^` + regexp.QuoteMeta(LocalIDPrefix) + `([0-9]{8}T[0-9]{6}Z-[0-9a-f]{12})-(.+)$`)

const runIDTime = "20060102T150405Z"

func newRunID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format(runIDTime) + "-" + hex.EncodeToString(b[:])
}

// runOf reads the run ID out of a local ID, and when that run started; ok
// is false for a local ID that is not one a run of this version sends.
func runOf(localID string) (runID string, started time.Time, ok bool) {
	m := localIDFormat.FindStringSubmatch(localID)
	if m == nil {
		return "", time.Time{}, false
	}
	t, err := time.Parse(runIDTime, m[1][:len(runIDTime)])
	if err != nil {
		return "", time.Time{}, false
	}
	return m[1], t, true
}

// realIDTime is when MESH created a message whose id has the real
// service's format (yyyyMMddHHmmss…_hex); ok is false for other ids.
func realIDTime(id string) (time.Time, bool) {
	if !realStyleID.MatchString(id) {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102150405", id[:14])
	return t, err == nil
}

// inboxMessage is what the run learnt of a message in the inbox from its
// headers alone.
type inboxMessage struct {
	id, from, localID string
	runID             string
	started           time.Time // the run's start, else the message's creation, else zero
}

// kind sorts an inbox message for the run: its own, an earlier (or
// parallel) meshdoctor run's from the same mailbox, or someone else's.
type kind int

const (
	kindOther kind = iota
	kindOwn
	kindEarlier
)

func (e *env) classify(m inboxMessage) kind {
	if !strings.EqualFold(m.from, e.mailbox()) {
		return kindOther
	}
	switch {
	case m.runID == e.runID:
		return kindOwn
	case m.runID != "" || strings.HasPrefix(m.localID, LocalIDPrefix):
		// An older meshdoctor wrote "meshdoctor-conform-<hex>-…", without
		// the run's start: also meshdoctor's, from this mailbox.
		return kindEarlier
	}
	return kindOther
}

// head reads a message's headers and what they say of its owner.
func (e *env) head(ctx context.Context, id string) (inboxMessage, error) {
	info, err := e.cleaner.Head(ctx, id)
	if err != nil {
		return inboxMessage{}, err
	}
	m := inboxMessage{id: id, from: info.From, localID: info.LocalID}
	if info.MessageType != "" && !strings.EqualFold(info.MessageType, mesh.MessageTypeData) {
		// A REPORT comes from MESH itself, whatever its local ID says.
		m.from = ""
	}
	if (m.from == "" || m.localID == "") && (info.MessageType == "" || strings.EqualFold(info.MessageType, mesh.MessageTypeData)) {
		if err := e.trackOwner(ctx, &m); err != nil {
			return inboxMessage{}, err
		}
	}
	var ok bool
	if m.runID, m.started, ok = runOf(m.localID); !ok {
		m.started, _ = realIDTime(id)
	}
	return m, nil
}

// trackOwner completes what HEAD left out of m from the sending mailbox's
// tracking of the message: an answer there means this mailbox sent it
// (MESH answers 404 to tracking another sender's message), and it names the
// local ID. A local ID HEAD did give that is not meshdoctor's needs no such
// look: whoever sent it, it is not a run's. Only an error below HTTP is
// returned, so that a clean-up knows MESH is gone.
func (e *env) trackOwner(ctx context.Context, m *inboxMessage) error {
	if m.localID != "" && !strings.HasPrefix(m.localID, LocalIDPrefix) ||
		m.from != "" && !strings.EqualFold(m.from, e.mailbox()) {
		return nil
	}
	// Version 1 first: its answer names the sender, one more thing to
	// agree; version 2 where MESH no longer answers version 1.
	t, err := e.senderV1.Track(ctx, m.id)
	if _, isAPI := mesh.AsAPIError(err); isAPI {
		t, err = e.sender.Track(ctx, m.id)
	}
	switch {
	case err != nil:
		if isConnectionLevel(err) {
			return err
		}
		return nil
	case t.MessageID != "" && !strings.EqualFold(t.MessageID, m.id),
		t.Sender != "" && !strings.EqualFold(t.Sender, e.mailbox()),
		m.localID != "" && t.LocalID != "" && t.LocalID != m.localID:
		// Not an answer about this message from its sender: proves nothing.
		return nil
	}
	if m.localID == "" {
		m.localID = t.LocalID
	}
	m.from = e.mailbox()
	return nil
}

// EarlierRuns is what a run found of earlier (or parallel) meshdoctor
// runs in the inbox, and what --clean-up-earlier-runs did with it.
type EarlierRuns struct {
	// Waiting is how many of their messages wait in the inbox after this
	// run (none of them is touched unless the clean-up was asked for).
	Waiting int `json:"waiting"`
	// Oldest is when the oldest of them was sent, where known.
	Oldest time.Time `json:"oldest,omitzero"`
	// Acknowledged lists what --clean-up-earlier-runs acknowledged:
	// "id (local ID …, sent …)".
	Acknowledged []string `json:"acknowledged,omitempty"`
	// Refused lists what it would not acknowledge, with why: another
	// sender's message that looks like meshdoctor's, or one too young to
	// be sure its run has ended.
	Refused []string `json:"refused,omitempty"`
}

// Line is the sentence a report shows, empty when there is nothing to say.
func (r *EarlierRuns) Line(now time.Time) string {
	if r == nil || r.Waiting == 0 && len(r.Acknowledged) == 0 && len(r.Refused) == 0 {
		return ""
	}
	var parts []string
	if n := len(r.Acknowledged); n > 0 {
		parts = append(parts, fmt.Sprintf("%d message%s from earlier meshdoctor runs acknowledged (--clean-up-earlier-runs)", n, plural(n)))
	}
	if r.Waiting > 0 {
		verb := "waits"
		if r.Waiting > 1 {
			verb = "wait"
		}
		s := fmt.Sprintf("%d message%s from earlier meshdoctor runs %s in the inbox", r.Waiting, plural(r.Waiting), verb)
		if !r.Oldest.IsZero() {
			s += ", the oldest " + age(now.Sub(r.Oldest))
		}
		if len(r.Acknowledged) == 0 && len(r.Refused) == 0 {
			s += " (not touched; 'meshdoctor conform --clean-up-earlier-runs' acknowledges those older than a run can last)"
		}
		parts = append(parts, s)
	}
	if n := len(r.Refused); n > 0 {
		parts = append(parts, fmt.Sprintf("%d refused", n))
	}
	return strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// age says how old something is in the largest whole unit.
func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return "a minute or less"
}

// earlierRunMinAge is how old an earlier run must be before
// --clean-up-earlier-runs acknowledges its messages: longer than a run can
// last, so that a run going on in parallel (another pipeline, a colleague)
// never loses its messages.
func earlierRunMinAge(o Options) time.Duration { return max(time.Hour, 15*o.Timeout) }

// survey looks at the inbox once, before the specs, by headers only
// (HEAD), and counts the messages earlier meshdoctor runs left there. With
// Options.CleanUpEarlierRuns it acknowledges those that are this mailbox's
// own and older than a run can last; nothing else is ever acknowledged.
func (e *env) survey(ctx context.Context) {
	ids, err := e.cleaner.ListAll(ctx, mesh.ListOptions{})
	if err != nil {
		e.cleanup.note("inbox survey: list inbox: %v", err)
		return
	}
	er := &EarlierRuns{}
	now := time.Now()
	minAge := earlierRunMinAge(e.opts)
	for i, id := range ids {
		if ctx.Err() != nil {
			break
		}
		if i == maxHeads {
			e.cleanup.note("inbox survey: looked at the first %d of %d messages only", maxHeads, len(ids))
			break
		}
		m, err := e.head(ctx, id)
		if err != nil {
			continue
		}
		k := e.classify(m)
		if k == kindOther {
			e.others[strings.ToUpper(id)] = true
			if e.opts.CleanUpEarlierRuns && strings.HasPrefix(m.localID, LocalIDPrefix) {
				sender := fmt.Sprintf("sent by %s, not by %s", m.from, e.mailbox())
				if m.from == "" {
					sender = fmt.Sprintf("its sender is not shown (HEAD names none, and %s's tracking does not know it)", e.mailbox())
				}
				er.Refused = append(er.Refused, fmt.Sprintf("%s (local ID %s): %s: never acknowledged", id, m.localID, sender))
			}
			continue
		}
		if k != kindEarlier {
			continue
		}
		// Not this run's: the clean-up need not look at it again.
		e.others[strings.ToUpper(id)] = true
		if e.opts.CleanUpEarlierRuns {
			switch {
			case m.started.IsZero():
				er.Refused = append(er.Refused, fmt.Sprintf("%s (local ID %s): when it was sent is unknown", id, m.localID))
			case now.Sub(m.started) < minAge:
				er.Refused = append(er.Refused, fmt.Sprintf("%s (local ID %s): sent %s ago, less than %s: its run may still be going", id, m.localID, age(now.Sub(m.started)), minAge))
			default:
				if err := e.cleaner.Acknowledge(ctx, id); err != nil {
					er.Refused = append(er.Refused, fmt.Sprintf("%s (local ID %s): acknowledge failed: %s", id, m.localID, oneLine(err.Error())))
					break
				}
				er.Acknowledged = append(er.Acknowledged, fmt.Sprintf("%s (local ID %s, sent %s ago)", id, m.localID, age(now.Sub(m.started))))
				e.cleanup.Drained++
				continue
			}
		}
		er.Waiting++
		if !m.started.IsZero() && (er.Oldest.IsZero() || m.started.Before(er.Oldest)) {
			er.Oldest = m.started
		}
	}
	if er.Waiting > 0 || len(er.Acknowledged) > 0 || len(er.Refused) > 0 {
		e.cleanup.Earlier = er
	}
}
