// Package suites holds meshdoctor's MESH conformance catalogue: Ginkgo v2 and
// Gomega specs that prove, through mesh.Client (the code a user's run
// exercises), that a mailbox can handshake, send, receive and acknowledge,
// and that the server keeps the rules of the MESH specification.
//
// The specs run inside the meshdoctor binary (Run), not under `go test`.
// Every spec has a stable ID (MESH-SEND-001 …), one sentence stating what
// MESH MUST do, and labels that select it. The specs are written against
// the MESH specification, not against meshdoctor's sandbox: where the
// specification allows variations (v1 or v2 bodies, header case, message id
// formats) they accept each and record what the server did as report
// entries.
//
// Every run has an ID, carried in the local ID and subject of each message
// it sends. Everything a run sends is acknowledged on the way out, also
// after failures, timeouts and interrupts, and nothing else: a message is
// the run's own only when its headers name the run's mailbox as sender and
// carry the run's ID. Earlier runs' leftovers are reported, and removed
// only when asked (Options.CleanUpEarlierRuns).
package suites
