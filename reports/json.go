package reports

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/meshdoctor/meshdoctor/checks"
)

// WriteJSON writes the run as one JSON document (schema 1), indented.
func WriteJSON(w io.Writer, r *Run) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		type plain Run
		doc := struct {
			*plain
			DurationMS int64 `json:"duration_ms"`
		}{(*plain)(r), r.Duration.Milliseconds()}
		doc.Schema = Schema
		if doc.Checks == nil {
			doc.Checks = []checks.Result{}
		}
		enc := json.NewEncoder(b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	})
}
