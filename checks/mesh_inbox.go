package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/mesh"
)

var meshInbox = Check{
	ID:    "mesh.inbox",
	Title: "The inbox is being collected (nothing near MESH's 5-day expiry)",
	Needs: []string{"mesh.handshake"},
	Run:   judgeInbox,
}

// inboxExpiry is how long MESH keeps an uncollected message before it
// returns a non-delivery report to the sender (mesh-api.md §6).
const inboxExpiry = 5 * 24 * time.Hour

// inboxHeads bounds how many messages are looked at for their type.
const inboxHeads = 5

func judgeInbox(ctx context.Context, f *Facts) Verdict {
	client, err := f.Exchange(ctx).Client(f)
	if err != nil {
		return Skipf("skipped: %v", err)
	}
	page, err := client.ListInbox(ctx, mesh.ListOptions{})
	if err != nil {
		return Warnf("could not list the inbox: %v", err).
			Fix("The handshake worked but listing did not: run 'meshdoctor conform --label-filter receive' for detail.")
	}
	n := len(page.Messages)
	count := fmt.Sprint(n)
	if page.ApproxInboxCount > n {
		count = fmt.Sprintf("about %d", page.ApproxInboxCount)
	} else if page.ContinueFrom != "" {
		count = fmt.Sprintf("more than %d", n)
	}
	total := max(n, page.ApproxInboxCount)
	if n == 0 {
		recordInbox(ctx, f, inboxCount{messages: total})
		return Passf("the inbox is empty").With("messages", 0)
	}
	now := f.Now()
	var oldest time.Time
	for _, id := range page.Messages {
		if t, ok := messageTime(id); ok && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	reports := 0
	for _, id := range page.Messages[:min(n, inboxHeads)] {
		info, err := client.Head(ctx, id)
		if err != nil {
			continue
		}
		if strings.EqualFold(info.MessageType, mesh.MessageTypeReport) {
			reports++
		}
		// Ids that carry no time (a sandbox's) leave the status time.
		if t := info.StatusTime; !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	recordInbox(ctx, f, inboxCount{messages: total, oldest: oldest})
	v := Passf("%s message(s) waiting", count).With("messages", count)
	if !oldest.IsZero() {
		age := now.Sub(oldest)
		v = v.With("oldest", fmt.Sprintf("%s (%s ago)", oldest.UTC().Format(time.RFC3339), humanAge(age)))
		if age > inboxExpiry-24*time.Hour {
			v.Status = Warn
			v.Summary = fmt.Sprintf("%s message(s) waiting; the oldest has waited %s of MESH's 5 days", count, humanAge(age))
			v = v.Fix("Collect and acknowledge messages (list, download, acknowledge) at least daily: after 5 days MESH removes them and sends the sender a non-delivery report.")
		}
	}
	if reports > 0 {
		v = v.With("reports", fmt.Sprintf("%d of the first %d are REPORT messages (failures of messages this mailbox sent)", reports, min(n, inboxHeads)))
		if v.Status == Pass {
			v.Status = Warn
			v.Summary = fmt.Sprintf("%s message(s) waiting, including %d REPORT(s) of failed sends", count, reports)
			v = v.Fix("Download and read the REPORT messages (mex-StatusCode and mex-StatusDescription say why a message failed), then acknowledge them.")
		}
	}
	return v
}

// messageTime reads the time a real MESH message id starts with
// (yyyyMMddHHmmss + fraction + "_" + hex). Other ids have none.
func messageTime(id string) (time.Time, bool) {
	if len(id) < 15 || !strings.Contains(id, "_") {
		return time.Time{}, false
	}
	t, err := time.Parse(mesh.StatusTimestampLayout, id[:14])
	return t, err == nil
}

// humanAge says a duration the way a person would: "4.5 days", "7 hours".
func humanAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0f hours", d.Hours())
	}
	return d.Round(time.Minute).String()
}
