package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// pageSize is the smallest max_results MESH accepts; the pagination specs
// send one message more than that.
const pageSize = 10

// paginationSpecs fill the recipient's inbox beyond one page and read it
// page by page.
func (s *suite) paginationSpecs() {
	ginkgo.Describe("inbox pagination", ginkgo.Offset(1), ginkgo.Ordered, ginkgo.ContinueOnFailure, func() {
		var (
			ids    []string
			filled = step{name: fmt.Sprintf("send %d messages and wait for their delivery", pageSize+1)}
		)
		doFill := func(ctx context.Context) {
			s.need(&filled, func() error {
				for i := range pageSize + 1 {
					purpose := fmt.Sprintf("page-%02d", i)
					id, err := s.e.send(ctx, s.e.sender, mesh.Message{LocalID: s.e.localID(purpose)}, payload(s.e.runID+"-"+purpose, 64))
					if err != nil {
						return err
					}
					ids = append(ids, id)
				}
				return s.awaitDelivery(ctx, ids...)
			})
		}
		ginkgo.AfterAll(func() {
			for _, id := range ids {
				s.e.ackQuietly(id)
			}
		})
		// everyOnce fails unless got lists each of ids exactly once.
		everyOnce := func(got []string) {
			ginkgo.GinkgoHelper()
			count := map[string]int{}
			for _, id := range got {
				count[strings.ToUpper(id)]++
			}
			for _, id := range ids {
				switch n := count[strings.ToUpper(id)]; n {
				case 1:
				case 0:
					s.failf("message %s is on no page of the listing", id)
				default:
					s.failf("message %s is listed %d times across the pages", id, n)
				}
			}
		}

		s.spec("MESH-PAGE-001",
			"MESH MUST list at most max_results message ids on one inbox page and, in version 2 of the API, give a links.next link when more messages wait.",
			labels(LabelReceive, LabelPagination),
			func(ctx context.Context) {
				doFill(ctx)
				page, err := s.e.receive.ListInbox(ctx, mesh.ListOptions{MaxResults: pageSize})
				if err != nil {
					s.failf("list inbox with max_results=%d: %s", pageSize, oneLine(err.Error()))
				}
				entry("page_size", len(page.Messages))
				entry("approx_inbox_count", page.ApproxInboxCount)
				entry("links.next", orNone(page.Next))
				if len(page.Messages) > pageSize {
					s.failf("max_results=%d answered %d ids", pageSize, len(page.Messages))
				}
				if page.Next == "" {
					s.failf("at least %d messages wait but the page of %d has no links.next", len(ids), len(page.Messages))
				}
			})

		s.spec("MESH-PAGE-002",
			"MESH MUST list every waiting message exactly once across the pages reached by following links.next.",
			labels(LabelReceive, LabelPagination),
			func(ctx context.Context) {
				doFill(ctx)
				all, err := s.e.receive.ListAll(ctx, mesh.ListOptions{MaxResults: pageSize})
				if err != nil {
					s.failf("list the inbox page by page: %s", oneLine(err.Error()))
				}
				entry("listed", len(all))
				everyOnce(all)
			})

		s.spec("MESH-PAGE-003",
			"MESH MUST continue a version 1 inbox listing after the last id of the previous page (continue_from), listing every waiting message exactly once.",
			labels(LabelReceive, LabelPagination),
			func(ctx context.Context) {
				doFill(ctx)
				var all []string
				opts := mesh.ListOptions{MaxResults: pageSize}
				pages := 0
				for {
					page, err := s.e.receiveV1.ListInbox(ctx, opts)
					if err != nil {
						s.failf("version 1 listing, page %d: %s", pages+1, oneLine(err.Error()))
					}
					pages++
					all = append(all, page.Messages...)
					if page.ContinueFrom == "" || pages > 1000 {
						break
					}
					opts.ContinueFrom = page.ContinueFrom
				}
				entry("pages", pages)
				if pages == 1 {
					entry("note", "every id came on one page: continue_from was not exercised")
				}
				everyOnce(all)
			})

		s.spec("MESH-PAGE-004",
			"MESH MUST filter the inbox listing by workflow: workflow_filter=WF lists the waiting messages of workflow WF, and !WF leaves them out.",
			labels(LabelReceive, LabelPagination),
			func(ctx context.Context) {
				doFill(ctx)
				wf := s.e.workflow()
				with, err := s.e.receive.ListAll(ctx, mesh.ListOptions{WorkflowFilter: wf})
				if err != nil {
					s.failf("list with workflow_filter=%s: %s", wf, oneLine(err.Error()))
				}
				without, err := s.e.receive.ListAll(ctx, mesh.ListOptions{WorkflowFilter: "!" + wf})
				if err != nil {
					s.failf("list with workflow_filter=!%s: %s", wf, oneLine(err.Error()))
				}
				entry("listed_with_filter", len(with))
				entry("listed_with_negated_filter", len(without))
				everyOnce(with)
				for _, id := range without {
					for _, ours := range ids {
						if strings.EqualFold(id, ours) {
							s.failf("workflow_filter=!%s lists message %s, which is on workflow %s", wf, id, wf)
						}
					}
				}
			})
	})
}

// lookupSpecs ask MESH's directory.
func (s *suite) lookupSpecs() {
	ginkgo.Describe("lookup", ginkgo.Offset(1), func() {
		record := func(refs []mesh.MailboxRef) {
			entry("results", len(refs))
			for _, r := range refs {
				if strings.EqualFold(r.MailboxID, s.e.recipient()) {
					entry("recipient_listed", true)
				}
			}
		}
		s.spec("MESH-LOOKUP-001",
			"MESH MUST answer an endpoint lookup (GET /messageexchange/endpointlookup/{ods}/{workflow}) with 200 and a list of mailboxes, empty when none match.",
			labels(LabelLookup),
			func(ctx context.Context) {
				refs, err := s.e.sender.LookupEndpoint(ctx, s.e.opts.LookupODS, s.e.workflow())
				if err != nil {
					s.failf("endpoint lookup %s/%s: %s", s.e.opts.LookupODS, s.e.workflow(), oneLine(err.Error()))
				}
				record(refs)
			})
		s.spec("MESH-LOOKUP-002",
			"MESH MUST answer an endpoint lookup in version 1 of the API with 200 and a list of results (address, description, endpoint_type).",
			labels(LabelLookup),
			func(ctx context.Context) {
				refs, err := s.e.senderV1.LookupEndpoint(ctx, s.e.opts.LookupODS, s.e.workflow())
				if err != nil {
					s.failf("endpoint lookup %s/%s (v1): %s", s.e.opts.LookupODS, s.e.workflow(), oneLine(err.Error()))
				}
				record(refs)
			})
		s.spec("MESH-LOOKUP-003",
			"MESH MUST answer a workflow search (GET /messageexchange/workflowsearch/{workflow}) with 200 and a list of the mailboxes that receive the workflow.",
			labels(LabelLookup),
			func(ctx context.Context) {
				refs, err := s.e.sender.SearchWorkflow(ctx, s.e.workflow())
				if err != nil {
					s.failf("workflow search %s: %s", s.e.workflow(), oneLine(err.Error()))
				}
				record(refs)
			})
	})
}

// errorSpecs: what MESH refuses, and with which status.
func (s *suite) errorSpecs() {
	ginkgo.Describe("errors", ginkgo.Offset(1), func() {
		// sendRaw posts a crafted first chunk; an id MESH gives it goes in
		// the ledger so that the clean-up finds it.
		sendRaw := func(ctx context.Context, h http.Header, body []byte) *rawResponse {
			ginkgo.GinkgoHelper()
			r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox())+"/outbox", h, body, "")
			if err != nil {
				s.failf("send: %s", oneLine(err.Error()))
			}
			entry("status", r.Status)
			if r.Status >= 200 && r.Status < 300 {
				if id := sentID(r.Body); id != "" {
					s.e.ledger.add(id)
				}
			}
			if e := mesh.DecodeError(http.MethodPost, "", r.Status, r.Body); e.Code != "" {
				entry("error_code", e.Code)
			}
			return r
		}
		sendHeader := func(purpose, chunkRange string) http.Header {
			return http.Header{
				mesh.HeaderTo:         {s.e.mailbox()},
				mesh.HeaderWorkflowID: {s.e.workflow()},
				mesh.HeaderLocalID:    {s.e.localID(purpose)},
				mesh.HeaderSubject:    {s.e.subject()},
				mesh.HeaderChunkRange: {chunkRange},
				"Content-Type":        {"application/octet-stream"},
			}
		}

		s.spec("MESH-ERROR-001",
			"MESH MUST refuse a message to a recipient that is not a registered mailbox with 417 (error code 12).",
			labels(LabelSend, LabelNegative),
			func(ctx context.Context) {
				id, err := s.e.send(ctx, s.e.sender, mesh.Message{To: noSuchMailbox, LocalID: s.e.localID("unknown-recipient")}, []byte("meshdoctor conformance"))
				if err == nil {
					entry("message_id", id)
				}
				s.expectStatus(err, "a message to the unregistered mailbox "+noSuchMailbox, http.StatusExpectationFailed)
			})

		s.spec("MESH-ERROR-002",
			"MESH MUST refuse a message with an empty body with 417 (error code 02).",
			labels(LabelSend, LabelNegative),
			func(ctx context.Context) {
				r := sendRaw(ctx, sendHeader("empty", "1:1"), []byte{})
				if r.Status != http.StatusExpectationFailed {
					s.failf("MESH answered %d to a message with an empty body; it MUST answer 417 Expectation Failed (%s)", r.Status, excerpt(r.Body))
				}
			})

		s.spec("MESH-ERROR-003",
			"MESH MUST refuse a first chunk whose mex-Chunk-Range is not 1:n with 417.",
			labels(LabelSend, LabelChunked, LabelNegative),
			func(ctx context.Context) {
				r := sendRaw(ctx, sendHeader("bad-chunk-range", "2:1"), []byte("meshdoctor conformance"))
				if r.Status != http.StatusExpectationFailed {
					s.failf("MESH answered %d to mex-Chunk-Range 2:1 on a first chunk; it MUST answer 417 Expectation Failed (%s)", r.Status, excerpt(r.Body))
				}
			})

		s.spec("MESH-ERROR-004",
			"MESH MUST answer 404 to a download of a message that does not exist.",
			labels(LabelReceive, LabelNegative),
			func(ctx context.Context) {
				_, err := s.e.receive.Download(ctx, unknownMessageID, discard{})
				s.expectStatus(err, "a download of a message that does not exist", http.StatusNotFound)
			})

		s.spec("MESH-ERROR-005",
			"MESH MUST answer 404 to HEAD of a message that does not exist.",
			labels(LabelReceive, LabelNegative),
			func(ctx context.Context) {
				_, err := s.e.receive.Head(ctx, unknownMessageID)
				s.expectStatus(err, "HEAD of a message that does not exist", http.StatusNotFound)
			})

		s.spec("MESH-ERROR-006",
			"MESH MUST answer 404 to the acknowledgement of a message that does not exist.",
			labels(LabelAck, LabelNegative),
			func(ctx context.Context) {
				err := s.e.receive.Acknowledge(ctx, unknownMessageID)
				s.expectStatus(err, "the acknowledgement of a message that does not exist", http.StatusNotFound)
			})

		s.spec("MESH-ERROR-007",
			"MESH MUST answer 404 when a sender tracks a message id it never sent.",
			labels(LabelTracking, LabelNegative),
			func(ctx context.Context) {
				_, err := s.e.sender.Track(ctx, unknownMessageID)
				s.expectStatus(err, "tracking of a message id that was never sent", http.StatusNotFound)
			})
	})
}

// sentID reads the message id of a 202 to a send, either version.
func sentID(body []byte) string {
	var v struct {
		V1 string `json:"messageID"`
		V2 string `json:"message_id"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return ""
	}
	return strings.TrimSpace(v.V1 + v.V2)
}
