package suites

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// messageSpecs follow one small message with every optional header from
// the sender to the recipient, through acknowledgement, as the sender's
// tracking sees it. Ordered: each spec is a later moment of the same
// message; ContinueOnFailure: a failed check does not hide the others.
func (s *suite) messageSpecs() {
	ginkgo.Describe("one message, end to end", ginkgo.Offset(1), ginkgo.Ordered, ginkgo.ContinueOnFailure, func() {
		var (
			id   string
			body []byte
			msg  mesh.Message
			info mesh.MessageInfo
			got  []byte

			sent      = step{name: "send the test message"}
			delivered = step{name: "wait for the message in the recipient's inbox"}
			download  = step{name: "download the message"}
			acked     = step{name: "acknowledge the message"}
		)
		doSend := func(ctx context.Context) {
			s.need(&sent, func() error {
				body = payload(s.e.runID+"-basic", 2048)
				msg = mesh.Message{
					Subject:     "meshdoctor conformance " + s.e.runID,
					LocalID:     s.e.localID("basic"),
					FileName:    "meshdoctor-conform-" + s.e.runID + ".txt",
					Checksum:    "sha256:" + sha256Hex(body),
					ContentType: "text/plain",
					Compressed:  true,
					Encrypted:   true,
				}
				var err error
				id, err = s.e.send(ctx, s.e.sender, msg, body)
				return err
			})
		}
		doDeliver := func(ctx context.Context) {
			doSend(ctx)
			s.need(&delivered, func() error { return s.awaitDelivery(ctx, id) })
		}
		doDownload := func(ctx context.Context) {
			doDeliver(ctx)
			s.need(&download, func() error {
				var buf bytes.Buffer
				var err error
				info, err = s.e.receive.Download(ctx, id, &buf)
				got = buf.Bytes()
				return err
			})
		}
		doAck := func(ctx context.Context) {
			doDeliver(ctx)
			s.need(&acked, func() error { return s.e.ack(ctx, id) })
		}
		ginkgo.AfterAll(func() {
			// The run's final clean-up acknowledges it too; doing it here
			// keeps the inbox clean between flows.
			if id != "" && !acked.done {
				s.e.ackQuietly(id)
			}
		})

		s.spec("MESH-SEND-001",
			"MESH MUST accept a message to a registered recipient carrying mex-To, mex-WorkflowID and the optional mex-Subject, mex-LocalID, mex-FileName, mex-Content-Checksum, mex-Content-Type, mex-Content-Compressed and mex-Content-Encrypted headers, answering 202 with a message id.",
			labels(LabelSend, LabelLiveSafe),
			func(ctx context.Context) {
				doSend(ctx)
				if strings.TrimSpace(id) == "" {
					s.failf("MESH accepted the message but gave no message id")
				}
				entry("message_id", id)
				entry("message_id_format", idFormat(id))
				entry("recipient", s.e.recipient())
			})

		s.spec("MESH-RECEIVE-001",
			"MESH MUST list a delivered message in the recipient's inbox (GET …/inbox).",
			labels(LabelReceive, LabelLiveSafe),
			func(ctx context.Context) { doDeliver(ctx) })

		s.spec("MESH-TRACK-001",
			"MESH MUST report a delivered message that is not yet acknowledged as accepted when its sender tracks it by message id (GET …/outbox/tracking?messageID=).",
			labels(LabelTracking),
			func(ctx context.Context) {
				doDeliver(ctx)
				var last mesh.Tracking
				err := s.wait(ctx, "tracking status accepted", func() error {
					t, err := s.e.sender.Track(ctx, id)
					if err != nil {
						return err
					}
					last = t
					if t.Status != "accepted" {
						return fmt.Errorf("status %q", t.Status)
					}
					return nil
				})
				entry("status", last.Status)
				if err != nil {
					s.failf("tracking of %s: %s", id, oneLine(err.Error()))
				}
			})

		s.spec("MESH-TRACK-002",
			"MESH MUST find a message by its local ID, as accepted until it is acknowledged, when the sender tracks it with GET …/outbox/tracking/{localID}, where MESH still offers that deprecated endpoint.",
			labels(LabelTracking),
			func(ctx context.Context) {
				doDeliver(ctx)
				path := mailboxPath(s.e.mailbox()) + "/outbox/tracking/" + url.PathEscape(msg.LocalID)
				r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodGet, path,
					http.Header{"Accept": {mesh.AcceptV1}}, nil, "")
				if err != nil {
					s.failf("tracking by local ID: %s", oneLine(err.Error()))
				}
				entry("status", r.Status)
				switch r.Status {
				case http.StatusOK:
				case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone:
					ginkgo.Skip(fmt.Sprintf("MESH answered %d to tracking by local ID: the deprecated endpoint is not offered", r.Status))
				default:
					s.failf("MESH answered %d to tracking by local ID; it MUST answer 200 (%s)", r.Status, excerpt(r.Body))
				}
				var v mesh.TrackingV1
				if err := json.Unmarshal(r.Body, &v); err != nil {
					s.failf("tracking by local ID answered 200 with a body that is not a tracking record: %s", excerpt(r.Body))
				}
				entry("message_id", v.MessageID)
				entry("tracking_status", orNone(v.Status))
				if !strings.EqualFold(v.MessageID, id) {
					s.failf("tracking by local ID %q found message %q, want %q", msg.LocalID, v.MessageID, id)
				}
				if !acked.done && !strings.EqualFold(v.Status, "accepted") {
					s.failf("tracking by local ID says %q for a delivered message not yet acknowledged, want Accepted", v.Status)
				}
			})

		s.spec("MESH-RECEIVE-002",
			"MESH MUST answer HEAD on a message in the inbox with 200 and the message's headers (mex-MessageID, mex-LocalID), without the payload.",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDeliver(ctx)
				r, err := s.e.rawDo(ctx, s.e.receiveCreds(), http.MethodHead, mailboxPath(s.e.recipient())+"/inbox/"+url.PathEscape(id), nil, nil, "")
				if err != nil {
					s.failf("HEAD: %s", oneLine(err.Error()))
				}
				entry("status", r.Status)
				if r.Status != http.StatusOK {
					s.failf("MESH answered %d to HEAD of message %s; it MUST answer 200", r.Status, id)
				}
				head := r.Header.Get(mesh.HeaderMessageID)
				entry("mex-messageid", head)
				if !strings.EqualFold(head, id) {
					s.failf("HEAD of message %s answered mex-MessageID %q", id, head)
				}
				if lid := r.Header.Get(mesh.HeaderLocalID); lid != msg.LocalID {
					s.failf("HEAD answered mex-LocalID %q, want %q", lid, msg.LocalID)
				}
			})

		s.spec("MESH-RECEIVE-003",
			"MESH MUST deliver a message's payload to the recipient byte for byte as it was sent.",
			labels(LabelReceive, LabelLiveSafe),
			func(ctx context.Context) {
				doDownload(ctx)
				entry("bytes", len(got))
				entry("content_encoding", orNone(info.ContentEncoding))
				entry("chunks", info.TotalChunks)
				if !bytes.Equal(got, body) {
					s.failf("downloaded %d bytes (SHA-256 %.12s…) differ from the %d sent (SHA-256 %.12s…)", len(got), sha256Hex(got), len(body), sha256Hex(body))
				}
			})

		s.spec("MESH-RECEIVE-004",
			"MESH MUST pass the sender's mex-Subject, mex-LocalID and mex-FileName to the recipient unchanged.",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDownload(ctx)
				s.same("mex-Subject", info.Subject, msg.Subject)
				s.same("mex-LocalID", info.LocalID, msg.LocalID)
				s.same("mex-FileName", info.FileName, msg.FileName)
			})

		s.spec("MESH-RECEIVE-005",
			"MESH MUST pass the sender's mex-Content-Checksum and mex-Content-Type to the recipient unchanged.",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDownload(ctx)
				s.same("mex-Content-Checksum", info.Checksum, msg.Checksum)
				s.same("mex-Content-Type", info.ContentType, msg.ContentType)
			})

		s.spec("MESH-RECEIVE-006",
			"MESH MUST pass the sender's mex-Content-Compressed and mex-Content-Encrypted flags to the recipient.",
			labels(LabelReceive, LabelCompression),
			func(ctx context.Context) {
				doDownload(ctx)
				entry("compressed", info.Compressed)
				entry("encrypted", info.Encrypted)
				if !info.Compressed {
					s.failf("the sender set mex-Content-Compressed: Y; the recipient did not see it")
				}
				if !info.Encrypted {
					s.failf("the sender set mex-Content-Encrypted: Y; the recipient did not see it")
				}
			})

		s.spec("MESH-RECEIVE-007",
			"MESH MUST tell the recipient the message's sender (mex-From), recipient (mex-To) and workflow (mex-WorkflowID).",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDownload(ctx)
				s.sameFold("mex-From", info.From, s.e.mailbox())
				s.sameFold("mex-To", info.To, s.e.recipient())
				s.same("mex-WorkflowID", info.WorkflowID, s.e.workflow())
			})

		s.spec("MESH-RECEIVE-008",
			"MESH MUST mark a delivered message as a DATA message (mex-MessageType DATA), and any status it gives as a success.",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDownload(ctx)
				entry("mex-messagetype", info.MessageType)
				entry("mex-statuscode", orNone(info.StatusCode))
				entry("mex-statussuccess", orNone(info.StatusSuccess))
				if info.MessageType != mesh.MessageTypeData {
					s.failf("mex-MessageType is %q, want DATA", info.MessageType)
				}
				if info.StatusSuccess != "" && !strings.EqualFold(info.StatusSuccess, "SUCCESS") {
					s.failf("mex-StatusSuccess of a delivered message is %q, want SUCCESS", info.StatusSuccess)
				}
			})

		s.spec("MESH-RECEIVE-009",
			"MESH MUST keep a downloaded message in the recipient's inbox until it is acknowledged.",
			labels(LabelReceive),
			func(ctx context.Context) {
				doDownload(ctx)
				if acked.done {
					ginkgo.Skip("the message was acknowledged already")
				}
				in, err := s.listed(ctx, s.e.receive, id)
				if err != nil {
					s.failf("list inbox: %s", oneLine(err.Error()))
				}
				if !in {
					s.failf("message %s left the inbox when it was downloaded; only an acknowledgement may remove it", id)
				}
			})

		s.spec("MESH-ACK-001",
			"MESH MUST accept the recipient's acknowledgement of a message (PUT …/inbox/{id}/status/acknowledged) with 200.",
			labels(LabelAck, LabelLiveSafe),
			func(ctx context.Context) { doAck(ctx) })

		s.spec("MESH-ACK-002",
			"MESH MUST remove an acknowledged message from the recipient's inbox listing.",
			labels(LabelAck, LabelLiveSafe),
			func(ctx context.Context) {
				doAck(ctx)
				err := s.wait(ctx, "acknowledged message leaves the inbox", func() error {
					in, err := s.listed(ctx, s.e.receive, id)
					if err != nil {
						return err
					}
					if in {
						return fmt.Errorf("message %s is still listed", id)
					}
					return nil
				})
				if err != nil {
					s.failf("%s", oneLine(err.Error()))
				}
			})

		s.spec("MESH-ACK-003",
			"MESH MUST NOT deliver an acknowledged message again: downloading it answers a 4xx status (410 Gone or 404 Not Found).",
			labels(LabelAck),
			func(ctx context.Context) {
				doAck(ctx)
				var status, downloads int
				// Briefly: MESH removes an acknowledged message at once; a
				// server that keeps serving it would otherwise be
				// downloaded every poll interval for the whole timeout.
				err := s.waitFor(ctx, "acknowledged message can no longer be downloaded", s.e.opts.ackGoneWait, func() error {
					downloads++
					_, err := s.e.receive.Download(ctx, id, discard{})
					if err == nil {
						status = 200
						return fmt.Errorf("message %s can still be downloaded (200) after its acknowledgement", id)
					}
					status = statusOf(err)
					if status < 400 || status >= 500 {
						return err
					}
					return nil
				})
				entry("status", status)
				entry("download_attempts", downloads)
				if err != nil {
					s.failf("%s", oneLine(err.Error()))
				}
			})

		s.spec("MESH-TRACK-003",
			"MESH MUST report an acknowledged message as acknowledged when its sender tracks it by message id.",
			labels(LabelTracking),
			func(ctx context.Context) {
				doAck(ctx)
				var last mesh.Tracking
				err := s.wait(ctx, "tracking status acknowledged", func() error {
					t, err := s.e.sender.Track(ctx, id)
					if err != nil {
						return err
					}
					last = t
					if t.Status != "acknowledged" {
						return fmt.Errorf("status %q", t.Status)
					}
					return nil
				})
				entry("status", last.Status)
				if err != nil {
					s.failf("tracking of %s: %s", id, oneLine(err.Error()))
				}
			})
	})
}

func (e *env) receiveCreds() mesh.Credentials {
	if e.opts.RecipientCredentials != nil {
		return *e.opts.RecipientCredentials
	}
	return e.opts.Target.Credentials
}

// same fails unless a header came through exactly as sent.
func (s *suite) same(name, got, want string) {
	ginkgo.GinkgoHelper()
	entry(strings.ToLower(name), got)
	if got != want {
		s.failf("%s arrived as %q; the sender sent %q", name, got, want)
	}
}

// sameFold is same for mailbox ids, which are case-insensitive.
func (s *suite) sameFold(name, got, want string) {
	ginkgo.GinkgoHelper()
	entry(strings.ToLower(name), got)
	if !strings.EqualFold(got, want) {
		s.failf("%s arrived as %q, want %q", name, got, want)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
