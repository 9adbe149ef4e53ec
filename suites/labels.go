package suites

// The labels a spec may carry. Scripts filter on them (--label-filter), so
// they are public names: add, never rename.
const (
	LabelHandshake   = "handshake"
	LabelSend        = "send"
	LabelReceive     = "receive"
	LabelAck         = "ack"
	LabelChunked     = "chunked"
	LabelCompression = "compression"
	LabelTracking    = "tracking"
	LabelPagination  = "pagination"
	LabelLookup      = "lookup"
	LabelNegative    = "negative"
	// LabelLiveSafe marks the specs that may run against live MESH: they
	// send at most one small message, to the caller's own mailbox or the
	// given recipient, and acknowledge it.
	LabelLiveSafe = "live-safe"
)

// Labels lists every label, in the catalogue's order.
func Labels() []string {
	return []string{LabelHandshake, LabelSend, LabelReceive, LabelAck, LabelChunked, LabelCompression,
		LabelTracking, LabelPagination, LabelLookup, LabelNegative, LabelLiveSafe}
}
