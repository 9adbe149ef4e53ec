package sandbox

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// Message lifecycle (mesh-api.md §6).
const (
	// inboxExpiry is how long a delivered message waits in the inbox before
	// it becomes undeliverable and its sender gets a code-14 NDR.
	inboxExpiry = 5 * 24 * time.Hour
	// purgeAfter is when a message is deleted completely, counted from
	// delivery (from creation for a message that never finished uploading).
	purgeAfter = 30 * 24 * time.Hour
	// DefaultUploadExpiry is how long a chunked upload may stay incomplete
	// before the store expires it, as MESH does with uploads a client
	// abandoned: its chunks are deleted and the message ends in error.
	DefaultUploadExpiry = 24 * time.Hour
	// sweepEvery bounds how often (by the store clock) a request triggers a
	// full expiry and purge pass; the messages a request touches are always
	// judged at once.
	sweepEvery = time.Minute
)

// NDR wording (NHS mesh-sandbox ErrorCodeMap, "undelivered").
const (
	ndrEvent       = "SEND"
	ndrCode        = "14"
	ndrDescription = "Message not collected by recipient after 5 days"
)

// The central system mailbox sends REPORTs; it has no mailbox id.
const centralMailboxName = "Central System Mailbox"

// msgStatus is where a message is in its lifecycle.
type msgStatus uint8

const (
	stUploading msgStatus = iota + 1
	stAccepted
	stAcknowledged
	stUndeliverable
	stError
)

var statusNames = [...]string{"", "uploading", "accepted", "acknowledged", "undeliverable", "error"}

func (s msgStatus) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return ""
}

// Title is the v1 spelling (Accepted, Acknowledged, …).
func (s msgStatus) Title() string {
	n := s.String()
	if n == "" {
		return ""
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

func parseStatus(s string) (msgStatus, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range statusNames {
		if i > 0 && n == s {
			return msgStatus(i), true
		}
	}
	return 0, false
}

func (s msgStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *msgStatus) UnmarshalText(b []byte) error {
	v, ok := parseStatus(string(b))
	if !ok {
		return fmt.Errorf("unknown message status %q", b)
	}
	*s = v
	return nil
}

// statusEvent is the error event of a REPORT, or what went wrong with a DATA
// message. Events are replaced, never changed in place, so a copied pointer
// is a safe snapshot.
type statusEvent struct {
	Event       string    `json:"event,omitempty"`
	Code        string    `json:"code,omitempty"`
	Description string    `json:"description,omitempty"`
	LinkedMsgID string    `json:"linked_message_id,omitempty"`
	Time        time.Time `json:"time,omitzero"`
}

// msgMeta is everything about a message except its data. The file store
// keeps it as meta.json.
type msgMeta struct {
	ID        string `json:"message_id"`
	Type      string `json:"message_type"` // DATA or REPORT
	Sender    string `json:"sender"`       // "" for the central system mailbox
	Recipient string `json:"recipient"`
	// ReportTo is the Mex-To of a REPORT that is about another message: the
	// intended recipient of the failed message. Empty means Recipient.
	ReportTo       string `json:"report_to,omitempty"`
	WorkflowID     string `json:"workflow_id"`
	Subject        string `json:"subject,omitempty"`
	LocalID        string `json:"local_id,omitempty"`
	FileName       string `json:"file_name,omitempty"`
	PartnerID      string `json:"partner_id,omitempty"`
	Checksum       string `json:"checksum,omitempty"`
	ContentType    string `json:"content_type,omitempty"`     // the sender's Content-Type
	MexContentType string `json:"mex_content_type,omitempty"` // the sender's Mex-Content-Type
	Compressed     bool   `json:"compressed,omitempty"`
	Encrypted      bool   `json:"encrypted,omitempty"`
	Encoding       string `json:"content_encoding,omitempty"` // "" or "gzip", the same for every chunk
	Total          int    `json:"total_chunks"`
	// Sizes are the stored sizes of the chunks received so far; chunks
	// arrive in order, so len(Sizes) is the number received.
	Sizes      []int64      `json:"chunk_sizes,omitempty"`
	Status     msgStatus    `json:"status"`
	Created    time.Time    `json:"created"`
	Delivered  time.Time    `json:"delivered,omitzero"`
	Acked      time.Time    `json:"acknowledged,omitzero"`
	StatusTime time.Time    `json:"status_time"`
	Seq        uint64       `json:"inbox_seq,omitempty"` // inbox order, set at each delivery
	Err        *statusEvent `json:"error_event,omitempty"`
	// DataGone: the chunks were deleted (the message was acknowledged).
	DataGone bool `json:"data_gone,omitempty"`
}

func (m *msgMeta) received() int { return len(m.Sizes) }

func (m *msgMeta) fileSize() int64 {
	var n int64
	for _, s := range m.Sizes {
		n += s
	}
	return n
}

// inboxExpiryTime is when a delivered message leaves the inbox.
func (m *msgMeta) inboxExpiryTime() time.Time {
	if !m.Delivered.IsZero() {
		return m.Delivered.Add(inboxExpiry)
	}
	return m.Created.Add(inboxExpiry)
}

// message is a stored message. Its fields are guarded by store.mu.
type message struct {
	msgMeta
	data    [][]byte   // memory store: the chunks
	saveMu  sync.Mutex // file store: orders metadata writes and deletion
	removed bool       // deleted from the store
}

// snapshot copies the metadata; call with store.mu held.
func (m *message) snapshot() msgMeta {
	c := m.msgMeta
	c.Sizes = slices.Clone(m.Sizes)
	return c
}

// Errors the store answers with; the API maps them to MESH statuses.
var (
	errNoMessage       = errors.New("message does not exist")
	errNotRecipient    = errors.New("message is not addressed to this mailbox")
	errNotSender       = errors.New("message was not sent by this mailbox")
	errGone            = errors.New("message no longer available for download")
	errNoChunk         = errors.New("chunk does not exist")
	errNotUploading    = errors.New("message has been finalised; no more chunks can be uploaded")
	errChunkBeyond     = errors.New("chunk number is greater than the message's total")
	errChunkTotal      = errors.New("chunk total differs from chunk 1")
	errEncodingChanged = errors.New("cannot change content encoding")
	errChunkOrder      = errors.New("chunk arrived before the one that precedes it")
	errEmptyBody       = errors.New("empty body")
	errNoMailbox       = errors.New("mailbox does not exist")
	errDataDiscarded   = errors.New("the message's data was deleted when it was acknowledged; it cannot be delivered again")
	errIncomplete      = errors.New("the message has not finished uploading")
)

// storageError is a failure of the disk, not of the request.
type storageError struct{ err error }

func (e *storageError) Error() string { return "message store: " + e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// store holds mailboxes, workflows and messages, in memory or (with a data
// directory) also on disk. Mailboxes and workflows never change after open
// and are read without locking.
type store struct {
	now       func() time.Time
	mailboxes map[string]*Mailbox
	mbOrder   []string
	workflows []Workflow
	files     *fileStore // nil: memory only
	dropped   []string   // messages dropped when the store was opened, and why

	mu       sync.RWMutex
	msgs     map[string]*message
	inbox    map[string][]*message // recipient -> accepted messages by Seq
	outbox   map[string][]*message // sender -> messages in creation order
	reserved map[string]struct{}   // ids of sends whose first chunk is being stored
	seq      uint64

	lastSweep atomic.Int64 // store-clock UnixNano of the last full sweep

	// uploadExpiry is how long an upload may stay incomplete; logf, when
	// set, hears of each one expired.
	uploadExpiry time.Duration
	logf         func(format string, args ...any)
}

// Upload expiry wording: the event an expired upload ends with.
const (
	uploadExpiredEvent       = "UPLOAD"
	uploadExpiredDescription = "upload not completed: chunks missing when it expired"
)

// openStore makes a store with the given mailboxes and workflows. With a
// dataDir, messages are kept on disk and survive restarts; "" keeps them in
// memory. now is the store's clock (time.Now when nil).
func openStore(dataDir string, mailboxes []Mailbox, workflows []Workflow, now func() time.Time) (*store, error) {
	if now == nil {
		now = time.Now
	}
	s := &store{
		now:       now,
		mailboxes: make(map[string]*Mailbox, len(mailboxes)),
		msgs:      map[string]*message{},
		inbox:     map[string][]*message{},
		outbox:    map[string][]*message{},
		reserved:  map[string]struct{}{},
	}
	for i := range mailboxes {
		mb := mailboxes[i]
		mb.ID = strings.ToUpper(strings.TrimSpace(mb.ID))
		if mb.ID == "" {
			return nil, errors.New("sandbox: a mailbox has an empty id")
		}
		if _, dup := s.mailboxes[mb.ID]; dup {
			return nil, fmt.Errorf("sandbox: mailbox %s is defined twice", mb.ID)
		}
		s.mailboxes[mb.ID] = &mb
		s.mbOrder = append(s.mbOrder, mb.ID)
	}
	for _, wf := range workflows {
		c := Workflow{ID: strings.TrimSpace(wf.ID)}
		for _, id := range wf.Senders {
			c.Senders = append(c.Senders, strings.ToUpper(strings.TrimSpace(id)))
		}
		for _, id := range wf.Receivers {
			c.Receivers = append(c.Receivers, strings.ToUpper(strings.TrimSpace(id)))
		}
		s.workflows = append(s.workflows, c)
	}
	if dataDir != "" {
		fs, err := openFileStore(dataDir)
		if err != nil {
			return nil, err
		}
		s.files = fs
		msgs, dropped, err := fs.load()
		if err != nil {
			return nil, err
		}
		s.dropped = dropped
		for _, m := range msgs {
			s.msgs[m.ID] = m
			s.seq = max(s.seq, m.Seq)
		}
		s.rebuildIndexesLocked()
	}
	s.lastSweep.Store(now().UnixNano())
	return s, nil
}

// Close releases the store. Messages on disk stay there.
func (s *store) Close() error { return nil }

// droppedOnOpen lists the messages the file store found damaged when it was
// opened (an upload cut short by a crash), with the reason for each.
func (s *store) droppedOnOpen() []string { return slices.Clone(s.dropped) }

// rebuildIndexesLocked rebuilds inboxes and outboxes from s.msgs.
func (s *store) rebuildIndexesLocked() {
	s.inbox = map[string][]*message{}
	s.outbox = map[string][]*message{}
	all := make([]*message, 0, len(s.msgs))
	for _, m := range s.msgs {
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].Created.Equal(all[j].Created) {
			return all[i].Created.Before(all[j].Created)
		}
		return all[i].ID < all[j].ID
	})
	for _, m := range all {
		if m.Sender != "" {
			s.outbox[m.Sender] = append(s.outbox[m.Sender], m)
		}
		if m.Status == stAccepted {
			s.inbox[m.Recipient] = append(s.inbox[m.Recipient], m)
		}
	}
	for _, list := range s.inbox {
		sort.Slice(list, func(i, j int) bool { return list[i].Seq < list[j].Seq })
	}
}

// mailbox finds a mailbox by its upper-case id.
func (s *store) mailbox(id string) *Mailbox { return s.mailboxes[id] }

// newIDLocked makes a message id no other message has; call with s.mu held
// for writing.
func (s *store) newIDLocked(now time.Time) string {
	for {
		id := newMessageID(now)
		if _, used := s.msgs[id]; used {
			continue
		}
		if _, used := s.reserved[id]; used {
			continue
		}
		return id
	}
}

func (s *store) reserveID(now time.Time) string {
	s.mu.Lock()
	id := s.newIDLocked(now)
	s.reserved[id] = struct{}{}
	s.mu.Unlock()
	return id
}

func (s *store) unreserve(id string) {
	s.mu.Lock()
	delete(s.reserved, id)
	s.mu.Unlock()
}

// deliverLocked puts m at the end of its recipient's inbox.
func (s *store) deliverLocked(m *message, now time.Time) {
	s.seq++
	m.Seq = s.seq
	m.Status = stAccepted
	m.Delivered = now
	m.StatusTime = now
	s.inbox[m.Recipient] = append(s.inbox[m.Recipient], m)
}

// removeFromInboxLocked takes m out of its recipient's inbox, if it is there.
func (s *store) removeFromInboxLocked(m *message) {
	list := s.inbox[m.Recipient]
	i := sort.Search(len(list), func(i int) bool { return list[i].Seq >= m.Seq })
	if i < len(list) && list[i] == m {
		list = slices.Delete(list, i, i+1)
		if len(list) == 0 {
			delete(s.inbox, m.Recipient)
		} else {
			s.inbox[m.Recipient] = list
		}
	}
}

// dueForExpiry reports whether an accepted message has waited too long.
func dueForExpiry(m *message, now time.Time) bool {
	return m.Status == stAccepted && !m.Delivered.IsZero() && now.Sub(m.Delivered) >= inboxExpiry
}

// expireLocked makes an uncollected message undeliverable and, for DATA,
// puts a code-14 NDR REPORT in its sender's inbox. It returns the messages
// whose metadata changed.
func (s *store) expireLocked(m *message, now time.Time) []*message {
	s.removeFromInboxLocked(m)
	m.Status = stUndeliverable
	m.StatusTime = now
	m.Err = &statusEvent{Event: ndrEvent, Code: ndrCode, Description: ndrDescription, Time: now}
	changed := []*message{m}
	if m.Type == mesh.MessageTypeData && m.Sender != "" {
		subject := "NDR"
		if m.Subject != "" {
			subject = "NDR: " + m.Subject
		}
		ndr := s.newReportLocked(now, m.Sender, m.WorkflowID, subject, m.LocalID, "",
			&statusEvent{Event: ndrEvent, Code: ndrCode, Description: ndrDescription, LinkedMsgID: m.ID, Time: now})
		ndr.ReportTo = m.Recipient
		changed = append(changed, ndr)
	}
	return changed
}

// newReportLocked puts a REPORT from the central system mailbox into
// recipient's inbox.
func (s *store) newReportLocked(now time.Time, recipient, workflowID, subject, localID, fileName string, ev *statusEvent) *message {
	m := &message{msgMeta: msgMeta{
		ID:         s.newIDLocked(now),
		Type:       mesh.MessageTypeReport,
		Recipient:  recipient,
		WorkflowID: workflowID,
		Subject:    subject,
		LocalID:    localID,
		FileName:   fileName,
		Created:    now,
		Err:        ev,
	}}
	s.msgs[m.ID] = m
	s.deliverLocked(m, now)
	return m
}

// removeLocked deletes messages from the indexes and marks them removed.
func (s *store) removeLocked(ms []*message) {
	senders := map[string]bool{}
	for _, m := range ms {
		if m.removed {
			continue
		}
		m.removed = true
		delete(s.msgs, m.ID)
		if m.Status == stAccepted {
			s.removeFromInboxLocked(m)
		}
		if m.Sender != "" {
			senders[m.Sender] = true
		}
	}
	for sender := range senders {
		list := slices.DeleteFunc(s.outbox[sender], func(m *message) bool { return m.removed })
		if len(list) == 0 {
			delete(s.outbox, sender)
		} else {
			s.outbox[sender] = list
		}
	}
}

// forget deletes removed messages' files.
func (s *store) forget(ms []*message) {
	if s.files == nil {
		return
	}
	for _, m := range ms {
		m.saveMu.Lock()
		s.files.remove(m.ID)
		m.saveMu.Unlock()
	}
}

// persist writes messages' metadata (file store only). Writes of one
// message are ordered: the snapshot is taken while holding its saveMu, so
// the last write is always the newest state.
func (s *store) persist(ms ...*message) error {
	if s.files == nil {
		return nil
	}
	var first error
	for _, m := range ms {
		m.saveMu.Lock()
		s.mu.RLock()
		if m.removed {
			s.mu.RUnlock()
			m.saveMu.Unlock()
			continue
		}
		snap := m.snapshot()
		s.mu.RUnlock()
		err := s.files.saveMeta(&snap)
		m.saveMu.Unlock()
		if err != nil && first == nil {
			first = &storageError{err}
		}
	}
	return first
}

// maintain runs a full expiry and purge pass when the last one is more than
// sweepEvery ago by the store clock (or the clock went backwards).
func (s *store) maintain(now time.Time) {
	last := s.lastSweep.Load()
	n := now.UnixNano()
	if n-last < int64(sweepEvery) && n >= last {
		return
	}
	if !s.lastSweep.CompareAndSwap(last, n) {
		return
	}
	var changed, purged []*message
	var expiredUploads []msgMeta
	s.mu.Lock()
	for _, m := range s.msgs {
		since := m.Delivered
		if since.IsZero() {
			since = m.Created
		}
		if now.Sub(since) >= purgeAfter {
			purged = append(purged, m)
			continue
		}
		if dueForExpiry(m, now) {
			changed = append(changed, s.expireLocked(m, now)...)
		}
		if s.uploadExpiry > 0 && m.Status == stUploading && now.Sub(m.Created) >= s.uploadExpiry {
			s.expireUploadLocked(m, now)
			changed = append(changed, m)
			expiredUploads = append(expiredUploads, m.snapshot())
		}
	}
	s.removeLocked(purged)
	s.mu.Unlock()
	s.forget(purged)
	for _, m := range expiredUploads {
		if s.files != nil {
			s.files.dropChunks(m.ID)
		}
		if s.logf != nil {
			s.logf("expired incomplete upload %s from %s to %s: %d of %d chunks after %s", m.ID, m.Sender, m.Recipient, m.received(), m.Total, now.Sub(m.Created).Round(time.Second))
		}
	}
	_ = s.persist(changed...)
}

// expireUploadLocked ends an upload that never completed: in error, its
// chunks gone, kept (for tracking and the admin API) until the purge.
func (s *store) expireUploadLocked(m *message, now time.Time) {
	m.Status = stError
	m.StatusTime = now
	m.Err = &statusEvent{Event: uploadExpiredEvent, Description: fmt.Sprintf("%s (%d of %d chunks)", uploadExpiredDescription, m.received(), m.Total), Time: now}
	m.data = nil
	m.DataGone = true
}

// expiredUploads lists the uploads the store expired, oldest first.
func (s *store) expiredUploads() []msgMeta {
	s.maintain(s.now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []msgMeta
	for _, m := range s.msgs {
		if m.Status == stError && m.Err != nil && m.Err.Event == uploadExpiredEvent {
			out = append(out, m.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b msgMeta) int { return a.Created.Compare(b.Created) })
	return out
}

// expire makes the given messages undeliverable if they are still due.
func (s *store) expire(ms []*message, now time.Time) {
	var changed []*message
	s.mu.Lock()
	for _, m := range ms {
		if !m.removed && dueForExpiry(m, now) {
			changed = append(changed, s.expireLocked(m, now)...)
		}
	}
	s.mu.Unlock()
	_ = s.persist(changed...)
}

// stagedChunk is a chunk body that is stored but not yet part of its
// message: install makes it so, discard throws it away.
type stagedChunk struct {
	size int64
	data []byte // memory store
	tmp  string // file store: the temporary file
	dst  string // file store: where install renames it
}

func (c *stagedChunk) install() error {
	if c.tmp == "" {
		return nil
	}
	if err := renameFile(c.tmp, c.dst); err != nil {
		return &storageError{err}
	}
	c.tmp = ""
	return nil
}

func (c *stagedChunk) discard() {
	if c.tmp != "" {
		removeFile(c.tmp)
		c.tmp = ""
	}
	c.data = nil
}

// stage stores a chunk body. In memory it is read into one slice (sized
// from sizeHint when the length is known); on disk it is streamed to a
// temporary file in the message's directory.
func (s *store) stage(id string, k int, body io.Reader, sizeHint int64, first bool) (stagedChunk, error) {
	if s.files != nil {
		return s.files.stage(id, k, body, first)
	}
	return stageMemory(body, sizeHint)
}

func stageMemory(body io.Reader, sizeHint int64) (stagedChunk, error) {
	if sizeHint >= 0 {
		buf := make([]byte, sizeHint)
		n, err := io.ReadFull(body, buf)
		if err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			return stagedChunk{}, err
		}
		return stagedChunk{size: int64(n), data: buf[:n]}, nil
	}
	buf, err := io.ReadAll(body)
	if err != nil {
		return stagedChunk{}, err
	}
	return stagedChunk{size: int64(len(buf)), data: buf}, nil
}

// sendRequest is a validated send: the message's metadata and its first
// chunk.
type sendRequest struct {
	meta     msgMeta // Sender, Recipient, WorkflowID, the mex fields, Encoding and Total
	body     io.Reader
	sizeHint int64 // the body's length, or -1
}

// send stores a new DATA message and its first chunk. A one-chunk message
// is delivered at once; otherwise it is uploading until its last chunk.
func (s *store) send(req sendRequest) (string, error) {
	now := s.now()
	id := s.reserveID(now)
	staged, err := s.stage(id, 1, req.body, req.sizeHint, true)
	if err == nil && staged.size == 0 {
		staged.discard()
		err = errEmptyBody
	}
	if err != nil {
		s.unreserve(id)
		if s.files != nil {
			s.files.remove(id)
		}
		return "", err
	}
	m := &message{msgMeta: req.meta}
	m.ID = id
	m.Type = mesh.MessageTypeData
	m.Created = now
	m.StatusTime = now
	m.Sizes = []int64{staged.size}
	if s.files == nil {
		m.data = [][]byte{staged.data}
	}
	s.mu.Lock()
	delete(s.reserved, id)
	if err := staged.install(); err != nil {
		s.mu.Unlock()
		staged.discard()
		s.files.remove(id)
		return "", err
	}
	s.msgs[id] = m
	s.outbox[m.Sender] = append(s.outbox[m.Sender], m)
	if m.Total <= 1 {
		s.deliverLocked(m, now)
	} else {
		m.Status = stUploading
	}
	s.mu.Unlock()
	if err := s.persist(m); err != nil {
		// Without metadata the message would vanish at the next start:
		// refuse it now rather than lose it later.
		s.mu.Lock()
		s.removeLocked([]*message{m})
		s.mu.Unlock()
		s.forget([]*message{m})
		return "", err
	}
	return id, nil
}

// chunkRequest is chunk k of n of message id, uploaded by sender.
type chunkRequest struct {
	sender, id string
	k, n       int
	encoding   string
	body       io.Reader
	sizeHint   int64
}

// checkChunkLocked is the order of chunk checks (mesh-api.md §3.4), with
// in-order arrival on top of NHS's sandbox.
func checkChunkLocked(m *message, req *chunkRequest) error {
	switch {
	case m == nil || m.removed:
		return errNoMessage
	case m.Sender != req.sender:
		return errNotSender
	case m.Status != stUploading:
		return errNotUploading
	case req.k > m.Total:
		return errChunkBeyond
	case req.n != m.Total:
		return errChunkTotal
	case req.encoding != m.Encoding:
		return errEncodingChanged
	case req.k > m.received()+1:
		return errChunkOrder
	}
	return nil
}

// uploadChunk stores chunk k of an uploading message. Chunks arrive in
// order; a chunk already received may be sent again (a retry) and replaces
// the earlier copy. It reports whether the message is now complete.
func (s *store) uploadChunk(req chunkRequest) (complete bool, err error) {
	s.mu.RLock()
	m := s.msgs[req.id]
	err = checkChunkLocked(m, &req)
	s.mu.RUnlock()
	if err != nil {
		return false, err
	}
	staged, err := s.stage(req.id, req.k, req.body, req.sizeHint, false)
	if err != nil {
		return false, err
	}
	if staged.size == 0 {
		staged.discard()
		return false, errEmptyBody
	}
	now := s.now()
	s.mu.Lock()
	if err := checkChunkLocked(m, &req); err != nil {
		s.mu.Unlock()
		staged.discard()
		return false, err
	}
	if err := staged.install(); err != nil {
		s.mu.Unlock()
		staged.discard()
		return false, err
	}
	if req.k == m.received()+1 {
		m.Sizes = append(m.Sizes, staged.size)
		if s.files == nil {
			m.data = append(m.data, staged.data)
		}
	} else {
		m.Sizes[req.k-1] = staged.size
		if s.files == nil {
			m.data[req.k-1] = staged.data
		}
	}
	if m.received() == m.Total {
		s.deliverLocked(m, now)
		complete = true
	}
	s.mu.Unlock()
	return complete, s.persist(m)
}

// inboxPage is one page of an inbox listing.
type inboxPage struct {
	ids     []string
	lastSeq uint64 // inbox position of the last id, for the next page
	more    bool   // more matching messages follow
	count   int    // messages in the inbox (any workflow)
}

// listInbox lists up to max accepted messages of mailbox mb after inbox
// position after, oldest first, whose workflow id passes match (nil: all).
func (s *store) listInbox(mb string, after uint64, max int, match func(string) bool) inboxPage {
	now := s.now()
	s.maintain(now)
	for {
		var due []*message
		p := inboxPage{ids: make([]string, 0, min(max, 64))}
		s.mu.RLock()
		list := s.inbox[mb]
		p.count = len(list)
		// The oldest messages are the ones that expire: look at them
		// whichever page is asked for, so that counts are right too.
		for j := 0; j < len(list) && dueForExpiry(list[j], now); j++ {
			due = append(due, list[j])
		}
		i := sort.Search(len(list), func(i int) bool { return list[i].Seq > after })
		for ; i < len(list); i++ {
			m := list[i]
			if dueForExpiry(m, now) {
				due = append(due, m) // expire dedupes
				continue
			}
			if match != nil && !match(m.WorkflowID) {
				continue
			}
			if len(p.ids) == max {
				p.more = true
				break
			}
			p.ids = append(p.ids, m.ID)
			p.lastSeq = m.Seq
		}
		s.mu.RUnlock()
		if len(due) == 0 {
			return p
		}
		s.expire(due, now)
	}
}

// inboxCount is the number of messages waiting in mb's inbox.
func (s *store) inboxCount(mb string) int {
	p := s.listInbox(mb, ^uint64(0), 1, nil) // judges expiry; lists nothing
	return p.count
}

// inboxSeqOf finds the inbox position of message id for a v1
// continue_from. A message that is not (or no longer) known gives 0: the
// listing starts again from the oldest message, as in NHS's sandbox.
func (s *store) inboxSeqOf(mb, id string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if m := s.msgs[id]; m != nil && m.Recipient == mb {
		return m.Seq
	}
	return 0
}

// chunkView is what a download needs: the message's metadata (without
// chunk sizes) and where chunk k's bytes are.
type chunkView struct {
	meta msgMeta
	k    int
	size int64
	data []byte // memory store
	path string // file store
}

// openChunk finds chunk k of a message for its recipient. A message that
// is uploading, acknowledged, undeliverable or in error is gone (410).
func (s *store) openChunk(mb, id string, k int) (chunkView, error) {
	now := s.now()
	s.maintain(now)
	s.mu.RLock()
	m := s.msgs[id]
	switch {
	case m == nil:
		s.mu.RUnlock()
		return chunkView{}, errNoMessage
	case m.Recipient != mb:
		s.mu.RUnlock()
		return chunkView{}, errNotRecipient
	case m.Status != stAccepted:
		s.mu.RUnlock()
		return chunkView{}, errGone
	case dueForExpiry(m, now):
		s.mu.RUnlock()
		s.expire([]*message{m}, now)
		return chunkView{}, errGone
	}
	v := s.viewLocked(m, k)
	s.mu.RUnlock()
	if m.Type == mesh.MessageTypeReport {
		if k != 1 {
			return chunkView{}, errNoChunk
		}
		return v, nil
	}
	if k < 1 || k > v.meta.Total || k > len(m.Sizes) {
		return chunkView{}, errNoChunk
	}
	return v, nil
}

// viewLocked describes chunk k of m (k may be out of range: size 0).
func (s *store) viewLocked(m *message, k int) chunkView {
	v := chunkView{meta: m.msgMeta, k: k}
	v.meta.Sizes = nil
	if k >= 1 && k <= len(m.Sizes) {
		v.size = m.Sizes[k-1]
		if s.files != nil {
			v.path = s.files.chunkPath(m.ID, k)
		} else if k <= len(m.data) {
			v.data = m.data[k-1]
		}
	}
	return v
}

// headMessage describes chunk 1 of a message for HEAD. Like NHS's sandbox,
// the sender may look too (any status); the recipient only while the
// message is in the inbox; anyone else is told it does not exist.
func (s *store) headMessage(mb, id string) (chunkView, error) {
	now := s.now()
	s.maintain(now)
	s.mu.RLock()
	m := s.msgs[id]
	switch {
	case m == nil || (m.Recipient != mb && (m.Sender != mb || m.Sender == "")):
		s.mu.RUnlock()
		return chunkView{}, errNoMessage
	case dueForExpiry(m, now):
		s.mu.RUnlock()
		s.expire([]*message{m}, now)
		return s.headMessage(mb, id)
	case m.Recipient == mb && m.Status != stAccepted:
		s.mu.RUnlock()
		return chunkView{}, errGone
	}
	v := s.viewLocked(m, 1)
	s.mu.RUnlock()
	return v, nil
}

// acknowledge closes a delivered message: it leaves the inbox and its data
// is deleted. Acknowledging again, or a message that is no longer in the
// inbox, changes nothing (NHS's sandbox answers 200 too).
func (s *store) acknowledge(mb, id string) error {
	now := s.now()
	s.mu.Lock()
	m := s.msgs[id]
	switch {
	case m == nil:
		s.mu.Unlock()
		return errNoMessage
	case m.Recipient != mb:
		s.mu.Unlock()
		return errNotRecipient
	case m.Status != stAccepted:
		s.mu.Unlock()
		return nil
	case dueForExpiry(m, now):
		changed := s.expireLocked(m, now)
		s.mu.Unlock()
		return s.persist(changed...)
	}
	s.ackLocked(m, now)
	s.mu.Unlock()
	return s.finishAck(m)
}

func (s *store) ackLocked(m *message, now time.Time) {
	if m.Status == stAccepted {
		s.removeFromInboxLocked(m)
	}
	m.Status = stAcknowledged
	m.Acked = now
	m.StatusTime = now
	if m.Type == mesh.MessageTypeData {
		m.DataGone = true
		m.data = nil
	}
}

// finishAck records an acknowledgement, then deletes the data: a crash in
// between leaves chunk files that the next open removes.
func (s *store) finishAck(m *message) error {
	err := s.persist(m)
	if s.files != nil && m.Type == mesh.MessageTypeData {
		m.saveMu.Lock()
		s.files.dropChunks(m.ID)
		m.saveMu.Unlock()
	}
	return err
}

// track finds a message for its sender; any other mailbox is told it does
// not exist (404, not 403, as MESH does).
func (s *store) track(sender, id string) (msgMeta, error) {
	now := s.now()
	s.maintain(now)
	s.mu.RLock()
	m := s.msgs[id]
	if m == nil || m.Sender == "" || m.Sender != sender {
		s.mu.RUnlock()
		return msgMeta{}, errNoMessage
	}
	if dueForExpiry(m, now) {
		s.mu.RUnlock()
		s.expire([]*message{m}, now)
		s.mu.RLock()
	}
	snap := m.snapshot()
	s.mu.RUnlock()
	return snap, nil
}

// trackByLocalID finds the messages sender sent with a local id.
func (s *store) trackByLocalID(sender, localID string) []msgMeta {
	now := s.now()
	s.maintain(now)
	var due []*message
	s.mu.RLock()
	for _, m := range s.outbox[sender] {
		if m.LocalID == localID && dueForExpiry(m, now) {
			due = append(due, m)
		}
	}
	s.mu.RUnlock()
	if len(due) > 0 {
		s.expire(due, now)
	}
	var out []msgMeta
	s.mu.RLock()
	for _, m := range s.outbox[sender] {
		if m.LocalID == localID {
			out = append(out, m.snapshot())
		}
	}
	s.mu.RUnlock()
	return out
}

// messageDetails finds any message by id (admin).
func (s *store) messageDetails(id string) (msgMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.msgs[id]
	if m == nil {
		return msgMeta{}, false
	}
	return m.snapshot(), true
}

// richList lists messages newest first for the rich inbox (received by mb)
// or outbox (sent by mb): created after since, older than the position
// (beforeCreated, beforeID) when beforeID is set, at most max of them.
func (s *store) richList(mb string, outbox bool, since time.Time, beforeCreated time.Time, beforeID string, max int) (page []msgMeta, more bool) {
	s.maintain(s.now())
	var all []*message
	s.mu.RLock()
	if outbox {
		all = slices.Clone(s.outbox[mb])
	} else {
		for _, m := range s.msgs {
			if m.Recipient == mb && m.Status != stUploading {
				all = append(all, m)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return newerThan(all[i], all[j]) })
	for _, m := range all {
		if !m.Created.After(since) {
			continue
		}
		if beforeID != "" && !olderThanPos(m, beforeCreated, beforeID) {
			continue
		}
		if len(page) == max {
			more = true
			break
		}
		page = append(page, m.snapshot())
	}
	s.mu.RUnlock()
	return page, more
}

func newerThan(a, b *message) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.ID > b.ID
}

func olderThanPos(m *message, created time.Time, id string) bool {
	if !m.Created.Equal(created) {
		return m.Created.Before(created)
	}
	return m.ID < id
}

// reset deletes every message, or (mb != "") the messages addressed to mb,
// from memory and disk.
func (s *store) reset(mb string) error {
	if mb != "" && s.mailboxes[mb] == nil {
		return errNoMailbox
	}
	var gone []*message
	s.mu.Lock()
	for _, m := range s.msgs {
		if mb == "" || m.Recipient == mb {
			gone = append(gone, m)
		}
	}
	s.removeLocked(gone)
	s.mu.Unlock()
	s.forget(gone)
	if mb == "" && s.files != nil {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.files.removeUnknown(func(id string) bool {
			_, known := s.msgs[id]
			_, busy := s.reserved[id]
			return known || busy
		})
	}
	return nil
}

// reportRequest is a REPORT an administrator puts into an inbox.
type reportRequest struct {
	Mailbox     string
	Undelivered bool // an NDR (code 14) rather than an error report
	Code        string
	Description string
	WorkflowID  string
	Subject     string
	LocalID     string
	FileName    string
	LinkedMsgID string
}

// addReport puts a REPORT into a mailbox's inbox. An undelivered report is
// made an NDR the way newer NHS sandboxes do: event SEND, code 14, subject
// "NDR" or "NDR: <subject>".
func (s *store) addReport(r reportRequest) (string, error) {
	if s.mailboxes[r.Mailbox] == nil {
		return "", errNoMailbox
	}
	now := s.now()
	ev := &statusEvent{Event: "TRANSFER", Code: r.Code, Description: r.Description, LinkedMsgID: r.LinkedMsgID, Time: now}
	subject, fileName := r.Subject, r.FileName
	if r.Undelivered {
		ev = &statusEvent{Event: ndrEvent, Code: ndrCode, Description: ndrDescription, LinkedMsgID: r.LinkedMsgID, Time: now}
		subject = "NDR"
		if r.Subject != "" {
			subject = "NDR: " + r.Subject
		}
		fileName = ""
	}
	s.mu.Lock()
	m := s.newReportLocked(now, r.Mailbox, r.WorkflowID, subject, r.LocalID, fileName, ev)
	s.mu.Unlock()
	if err := s.persist(m); err != nil {
		return "", err
	}
	return m.ID, nil
}

// eventRequest moves a message to another status (admin).
type eventRequest struct {
	Status      msgStatus
	Event       string
	Code        string
	Description string
	LinkedMsgID string
}

// addEvent moves a message to a new status: accepted (re)delivers it to the
// end of its recipient's inbox, acknowledged closes it, undeliverable and
// error take it out of the inbox with the given error event.
func (s *store) addEvent(id string, ev eventRequest) error {
	now := s.now()
	s.mu.Lock()
	m := s.msgs[id]
	if m == nil {
		s.mu.Unlock()
		return errNoMessage
	}
	wasAccepted := m.Status == stAccepted
	switch ev.Status {
	case stAccepted:
		switch {
		case m.Type == mesh.MessageTypeData && m.DataGone:
			s.mu.Unlock()
			return errDataDiscarded
		case m.Type == mesh.MessageTypeData && m.received() < m.Total:
			s.mu.Unlock()
			return errIncomplete
		}
		if wasAccepted {
			s.removeFromInboxLocked(m)
		}
		if m.Type == mesh.MessageTypeData {
			m.Err = nil
		}
		s.deliverLocked(m, now)
	case stAcknowledged:
		s.ackLocked(m, now)
		s.mu.Unlock()
		return s.finishAck(m)
	case stUndeliverable, stError:
		if wasAccepted {
			s.removeFromInboxLocked(m)
		}
		m.Status = ev.Status
		m.StatusTime = now
		event := ev.Event
		if event == "" {
			event = "SEND"
		}
		m.Err = &statusEvent{Event: event, Code: ev.Code, Description: ev.Description, LinkedMsgID: ev.LinkedMsgID, Time: now}
	default:
		s.mu.Unlock()
		return fmt.Errorf("status %q cannot be set", ev.Status)
	}
	s.mu.Unlock()
	return s.persist(m)
}

// lookup finds the mailboxes of an ODS code that receive a workflow.
func (s *store) lookup(ods, workflowID string) []*Mailbox {
	var out []*Mailbox
	seen := map[string]bool{}
	for _, wf := range s.workflows {
		if wf.ID != workflowID {
			continue
		}
		for _, id := range wf.Receivers {
			mb := s.mailboxes[id]
			if mb == nil || seen[id] || (ods != "" && !strings.EqualFold(mb.ODSCode, ods)) {
				continue
			}
			seen[id] = true
			out = append(out, mb)
		}
	}
	return out
}
