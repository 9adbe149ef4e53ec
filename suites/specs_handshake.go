package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/meshdoctor/meshdoctor/mesh"
)

// handshakeSpecs: the mailbox, its credentials and its certificate are
// accepted, in either version of the API.
func (s *suite) handshakeSpecs() {
	ginkgo.Describe("handshake", ginkgo.Offset(1), func() {
		s.spec("MESH-HANDSHAKE-001",
			"MESH MUST accept a handshake (POST /messageexchange/{mailbox} with the mex-ClientVersion, mex-OSName and mex-OSVersion headers) from a mailbox with valid credentials, in version 2 of the API, answering 200.",
			labels(LabelHandshake, LabelLiveSafe),
			func(ctx context.Context) {
				if err := s.e.sender.Handshake(ctx); err != nil {
					s.failf("handshake refused: %s", oneLine(err.Error()))
				}
				entry("api_version", 2)
			})

		s.spec("MESH-HANDSHAKE-002",
			"MESH MUST accept a handshake in version 1 of the API, answering 200 with an empty body or one naming the mailbox.",
			labels(LabelHandshake, LabelLiveSafe),
			func(ctx context.Context) {
				r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox()),
					withAccept(handshakeHeader(), mesh.AcceptV1), nil, "")
				if err != nil {
					s.failf("handshake: %s", oneLine(err.Error()))
				}
				entry("status", r.Status)
				if r.Status != http.StatusOK {
					s.failf("MESH answered %d to a version 1 handshake; it MUST answer 200 (%s)", r.Status, excerpt(r.Body))
				}
				body := strings.TrimSpace(string(r.Body))
				if body == "" || body == "null" {
					entry("body", "empty (as the current specification documents)")
					return
				}
				var v mesh.HandshakeResponseV1
				if err := json.Unmarshal(r.Body, &v); err != nil {
					entry("body", excerpt(r.Body))
					s.failf("MESH answered a version 1 handshake with a body that is not JSON: %s", excerpt(r.Body))
				}
				entry("body", "v1 mailboxId "+v.MailboxID)
				if v.MailboxID != "" && !strings.EqualFold(v.MailboxID, s.e.mailbox()) {
					s.failf("MESH answered the handshake of %s naming mailbox %q", s.e.mailbox(), v.MailboxID)
				}
			})
	})
}

// authSpecs: MESH refuses every request whose token is not right. They
// need raw requests: mesh.Client only makes good tokens.
func (s *suite) authSpecs() {
	ginkgo.Describe("authentication", ginkgo.Offset(1), func() {
		// refused hands MESH a handshake with the given Authorization
		// value and expects 403. A refusal proves something only if MESH
		// accepts a valid token in the same conditions: after a refusal it
		// sends the same handshake with a fresh valid token (the control)
		// and skips the spec when that is refused too.
		refused := func(ctx context.Context, what, token string, alsoOK ...int) {
			r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox()),
				handshakeHeader(), nil, token)
			if err != nil {
				s.failf("handshake with %s: %s", what, oneLine(err.Error()))
			}
			entry("status", r.Status)
			if r.Status >= 200 && r.Status < 300 {
				s.failf("MESH ACCEPTED a handshake with %s (answered %d): it MUST refuse it with 403 Forbidden. This server does not enforce the rule.", what, r.Status)
			}
			s.validAccepted(ctx, what)
			if r.Status == http.StatusForbidden || slices.Contains(alsoOK, r.Status) {
				return
			}
			s.failf("MESH answered %d to a handshake with %s; it MUST refuse it with 403 Forbidden (%s)", r.Status, what, excerpt(r.Body))
		}
		creds := func() mesh.Credentials { return s.e.opts.Target.Credentials }

		s.spec("MESH-AUTH-001",
			"MESH MUST refuse with 403 a request whose token was signed with a wrong mailbox password.",
			labels(LabelHandshake, LabelNegative),
			func(ctx context.Context) {
				c := creds()
				c.Password += "-wrong"
				refused(ctx, "a token signed with a wrong password", mesh.NewToken(c, time.Now()))
			})

		s.spec("MESH-AUTH-002",
			"MESH MUST refuse with 403 a request whose token was signed with a wrong shared key.",
			labels(LabelHandshake, LabelNegative),
			func(ctx context.Context) {
				c := creds()
				c.SharedKey += "-wrong"
				refused(ctx, "a token signed with a wrong shared key", mesh.NewToken(c, time.Now()))
			})

		s.spec("MESH-AUTH-003",
			"MESH MUST refuse with 403 a token it has already accepted once (a replayed Authorization header).",
			labels(LabelHandshake, LabelNegative),
			func(ctx context.Context) {
				token := mesh.NewToken(creds(), time.Now())
				r, err := s.e.rawDo(ctx, creds(), http.MethodPost, mailboxPath(s.e.mailbox()), handshakeHeader(), nil, token)
				if err != nil {
					s.failf("first use of the token: %s", oneLine(err.Error()))
				}
				entry("first_use_status", r.Status)
				if r.Status != http.StatusOK {
					// Cannot judge: the first use is the control.
					ginkgo.Skip(fmt.Sprintf("cannot judge replay protection: the first use of a fresh valid token answered %d, not 200: the server refuses valid tokens too (see MESH-HANDSHAKE-001)", r.Status))
				}
				refused(ctx, "a replayed token (the same Authorization header a second time)", token)
			})

		s.spec("MESH-AUTH-004",
			"MESH MUST refuse with 403 a token whose timestamp is more than 2 hours from the server's time.",
			labels(LabelHandshake, LabelNegative),
			func(ctx context.Context) {
				old := time.Now().Add(-mesh.TokenWindow - time.Hour)
				refused(ctx, "a token timestamped 3 hours ago", mesh.BuildToken(creds(), mesh.NewNonce(), 0, old))
			})

		s.spec("MESH-AUTH-005",
			"MESH MUST refuse a request without an Authorization header (403, or 401 where an authentication layer answers first).",
			labels(LabelHandshake, LabelNegative),
			func(ctx context.Context) {
				refused(ctx, "no Authorization header", noToken, http.StatusUnauthorized)
			})
	})
}

// validAccepted is the control of a negative auth spec: the same handshake
// with a fresh valid token. When MESH refuses that too, a refusal of a bad
// token proved nothing, and the spec is skipped, never passed.
func (s *suite) validAccepted(ctx context.Context, what string) {
	r, err := s.e.rawDo(ctx, s.e.opts.Target.Credentials, http.MethodPost, mailboxPath(s.e.mailbox()),
		handshakeHeader(), nil, "")
	if err != nil {
		s.failf("handshake with a valid token, to compare with %s: %s", what, oneLine(err.Error()))
	}
	entry("valid_token_status", r.Status)
	if r.Status != http.StatusOK {
		ginkgo.Skip(fmt.Sprintf("cannot judge: a handshake with a valid token answered %d, not 200: the server refuses valid tokens too (see MESH-HANDSHAKE-001), so refusing %s proves nothing", r.Status, what))
	}
}

func withAccept(h http.Header, accept string) http.Header {
	h.Set("Accept", accept)
	return h
}

// excerpt is the start of a body, on one line, for a failure message.
func excerpt(b []byte) string {
	s := oneLine(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return "body: " + s
}
