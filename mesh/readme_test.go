package mesh

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestREADMEHostTable: the README's table of host names to allow and to
// exempt from SSL inspection is the catalogue, row for row.
func TestREADMEHostTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString("| environment | route | host to allow and exempt | port | status |\n|---|---|---|---|---|\n")
	for _, e := range Endpoints() {
		fmt.Fprintf(&want, "| %s | %s | `%s` | 443 | %s |\n", e.Environment, e.Route, e.Host, e.Status)
	}
	if !strings.Contains(string(b), want.String()) {
		t.Errorf("README.md's section 'Behind a proxy or a firewall' must hold this table, from the catalogue:\n%s", want.String())
	}
}
