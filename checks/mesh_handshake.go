package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var meshHandshake = Check{
	ID:    "mesh.handshake",
	Title: "MESH accepts the authenticated handshake for this mailbox",
	Needs: []string{"auth.credentials", "tcp.connect"},
	After: []string{"tls.server", "tls.client-auth", "auth.clock"},
	Run:   judgeHandshake,
}

func judgeHandshake(ctx context.Context, f *Facts) Verdict {
	// A TLS failure is the first cause, already reported: do not report
	// its consequence again. (A plain-HTTP sandbox skips tls.server, and a
	// server too slow to show its verdict skips tls.client-auth: neither
	// stops the handshake being judged.)
	if r, ok := f.Result("tls.server"); ok && r.Status != Pass && r.Status != Warn && !f.TLS(ctx).Plain {
		return Skipf("skipped: tls.server %s", pastTense(r.Status))
	}
	if r, ok := f.Result("tls.client-auth"); ok && r.Status.Failed() {
		return Skipf("skipped: tls.client-auth %s", pastTense(r.Status))
	}
	x := f.Exchange(ctx)
	mailbox := f.Target.Credentials.Mailbox
	path := mesh.PathPrefix + "/" + mailbox
	if x.NotSent != "" {
		return Skipf("skipped: %s", x.NotSent)
	}
	v := func(v Verdict) Verdict {
		v = v.With("request", "POST "+path)
		if x.Status != 0 {
			v = v.With("status", x.Status).With("server", x.Header.Get("Server")).With("answer", gist(x.Body))
		}
		return v
	}
	if x.Err != nil {
		kind := classifyNet(x.Err)
		if kind == failTimeout {
			return v(Failf("MESH did not answer the handshake in time: %v", x.Err)).
				Fix("MESH or something in front of it is slow or stuck. Try again later; raise --timeout if your link is slow; if it persists, contact the service desk with this report.")
		}
		return v(Failf("the handshake request failed: %v", x.Err)).
			Fix("The connection broke after TLS was set up: a proxy or firewall may be interfering. Run with -v and send this report to your network team.")
	}
	if !x.Authenticated {
		return Skipf("skipped: the credentials are incomplete (see auth.credentials)")
	}
	switch {
	case x.Status == 200:
		return v(Passf("MESH accepted the handshake for mailbox %s", mailbox))
	case x.Status == 403:
		return v(forbidden(f, x))
	case x.Status == 400 && strings.Contains(strings.ToLower(string(x.Body)), "http request to an https server"):
		return v(Failf("the server speaks HTTPS, but the URL says http://")).
			Fix("Use https:// in --url: MESH (and this server) is served over TLS.")
	case x.Status == 400:
		return v(Failf("MESH answered 400 Bad Request to the handshake: %s", gist(x.Body))).
			Fix("The request lacked something MESH requires (mex-ClientVersion, mex-OSName and mex-OSVersion headers, or a readable Authorization header). If a proxy rewrites headers, ask for them to pass unchanged.")
	case x.Status >= 300 && x.Status < 400:
		return v(Failf("the handshake was redirected (HTTP %d) to %s: MESH never redirects", x.Status, firstNonEmpty(x.Header.Get("Location"), "(no Location)"))).
			Fix("Something other than MESH answered (a proxy, captive portal or web server): check --url, and HTTPS_PROXY/NO_PROXY.")
	case x.Status == 404 || x.Status == 405:
		return v(Failf("there is no MESH API at %s (HTTP %d)", f.Target.URL+path, x.Status)).
			Fix("Check --url: it should be the MESH host itself (https://host[:port]), without a path; the API lives under /messageexchange.")
	case x.Status >= 500:
		return v(Failf("MESH had an internal error (HTTP %d): %s", x.Status, gist(x.Body))).
			Fix("This is the server's fault, not your setup. Try again later; if it persists, contact the service desk with the time of this run.")
	case nonMESH(x.Body):
		return v(Failf("something other than MESH answered (HTTP %d): %s", x.Status, gist(x.Body))).
			Fix("A proxy, captive portal or load balancer answered instead of MESH: check --url and HTTPS_PROXY/NO_PROXY.")
	}
	return v(Failf("MESH answered the handshake with HTTP %d: %s", x.Status, gist(x.Body))).
		Fix("Unexpected answer: run with -v and send this report to the service desk.")
}

// forbidden ranks the causes of a 403 by the evidence.
func forbidden(f *Facts, x *ExchangeFacts) Verdict {
	mailbox := f.Target.Credentials.Mailbox
	apiErr := mesh.DecodeError("POST", mesh.PathPrefix+"/"+mailbox, x.Status, x.Body)
	v := Failf("MESH refused the credentials (403): %s", firstNonEmpty(apiErr.Description, "Forbidden"))
	if r, ok := f.Result("auth.clock"); ok && r.Status == Fail {
		return v.With("first cause", "auth.clock").
			Fix("This machine's clock is more than 2 hours from MESH's (see auth.clock): every token is refused until it is set right.")
	}
	if apiErr.Code == "EPL-151" || strings.Contains(strings.ToLower(apiErr.Description), "no mailbox") {
		return Failf("MESH does not know the mailbox %s in this environment (403 %s)", mailbox, firstNonEmpty(apiErr.Code, apiErr.Description)).
			Fix("Check --mailbox and --env: mailboxes exist per environment (an Integration mailbox is unknown to live).")
	}
	if strings.Contains(strings.ToLower(apiErr.Description), "does not match") {
		return v.Fix("The mailbox in the token does not match the one in the URL: MESH compares them exactly, and ids are upper case.")
	}
	return v.With("token", "built and verified locally (auth.credentials)").
		Fix("The token is well formed, so MESH disagrees with the password or the shared key: check MESH_MAILBOX_PASSWORD is this mailbox's password and MESH_SHARED_KEY is this environment's shared key (each environment has its own; the service desk issues it). A mailbox that is locked or not yet activated is refused the same way.")
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

// gist is one line saying what a body was.
func gist(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	if m := titleRE.FindStringSubmatch(s); m != nil {
		return "an HTML page titled " + fmt.Sprintf("%q", oneLine(m[1]))
	}
	if strings.HasPrefix(s, "<") {
		if strings.Contains(s, "faultstring") {
			if i := strings.Index(s, "<faultstring>"); i >= 0 {
				rest := s[i+len("<faultstring>"):]
				if j := strings.Index(rest, "<"); j >= 0 {
					return "an XML fault: " + fmt.Sprintf("%q", rest[:j])
				}
			}
		}
		return "an XML or HTML document"
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		if e := mesh.DecodeError("", "", 0, body); e != nil && e.Description != "" {
			return strings.TrimSpace(strings.Join([]string{e.Code, e.Description}, " "))
		}
	}
	s = oneLine(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func nonMESH(body []byte) bool {
	s := strings.TrimSpace(string(body))
	return strings.HasPrefix(s, "<")
}
