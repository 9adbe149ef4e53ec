package suites

import (
	"fmt"
	"io"
	"strings"
)

// WriteCatalogueMarkdown writes the catalogue for readers: the file
// suites/CATALOGUE.md is this output (a test keeps it up to date).
func WriteCatalogueMarkdown(w io.Writer, cat []CatalogueEntry) error {
	var b strings.Builder
	b.WriteString("# MESH conformance catalogue\n\n")
	b.WriteString("<!-- Generated from the specs by `go test ./suites -run TestCatalogueFile -update`; do not edit. -->\n\n")
	b.WriteString("What `meshdoctor conform` checks, one spec per line: a stable ID, what MESH MUST do, and the labels that\n")
	b.WriteString("select it (`--label-filter`). IDs never change meaning; new specs get new IDs. `live-safe` specs are the only\n")
	b.WriteString("ones that run against live MESH (with `--allow-live`): a handshake and one small message to your own mailbox.\n\n")
	fmt.Fprintf(&b, "%d specs.\n\n", len(cat))
	b.WriteString("| ID | MESH MUST … | labels |\n|---|---|---|\n")
	for _, e := range cat {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", e.ID, strings.ReplaceAll(e.Text, "|", `\|`), strings.Join(e.Labels, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
