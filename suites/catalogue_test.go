package suites

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/formatter"
)

var update = flag.Bool("update", false, "rewrite CATALOGUE.md from the specs")

// TestCatalogue: the catalogue's contract. IDs are unique and well formed,
// each spec states one MUST, labels come from the public set, and every
// label selects something.
func TestCatalogue(t *testing.T) {
	cat := Catalogue()
	if len(cat) < 30 {
		t.Errorf("%d specs, want at least 30", len(cat))
	}
	idRE := regexp.MustCompile(`^MESH-[A-Z]+-[0-9]{3}$`)
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, e := range cat {
		if !idRE.MatchString(e.ID) {
			t.Errorf("spec ID %q is not MESH-FAMILY-NNN", e.ID)
		}
		if seen[e.ID] {
			t.Errorf("spec ID %s is used twice", e.ID)
		}
		seen[e.ID] = true
		if !strings.HasPrefix(e.Text, "MESH MUST ") || strings.Count(e.Text, "MUST") != 1 || !strings.HasSuffix(e.Text, ".") {
			t.Errorf("%s: %q is not one sentence starting \"MESH MUST\"", e.ID, e.Text)
		}
		if len(e.Labels) == 0 {
			t.Errorf("%s has no label", e.ID)
		}
		for _, l := range e.Labels {
			if !slices.Contains(Labels(), l) {
				t.Errorf("%s has label %q, which is not one of %v", e.ID, l, Labels())
			}
			used[l] = true
		}
	}
	for _, l := range Labels() {
		if !used[l] {
			t.Errorf("label %q selects no spec", l)
		}
	}
}

// TestCatalogueFile: CATALOGUE.md is what the specs say. Regenerate it
// with: go test ./suites -run TestCatalogueFile -update
func TestCatalogueFile(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCatalogueMarkdown(&b, Catalogue()); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("CATALOGUE.md", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("CATALOGUE.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatal("suites/CATALOGUE.md is out of date: run go test ./suites -run TestCatalogueFile -update")
	}
}

// TestGinkgoStaysOffStdout: Ginkgo's default reporter writes to its
// ColorableStdOut (the process's stdout); a run must leave it silent, or
// JSON output would be corrupted.
func TestGinkgoStaysOffStdout(t *testing.T) {
	var stdout bytes.Buffer
	prev := formatter.ColorableStdOut
	formatter.ColorableStdOut = &stdout
	defer func() { formatter.ColorableStdOut = prev }()
	_, o := startSandbox(t)
	o.Focus = []string{"MESH-HANDSHAKE-001", "MESH-ERROR-004"}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_ = Catalogue()
	if stdout.Len() != 0 {
		t.Fatalf("Ginkgo wrote to stdout during a run:\n%s", stdout.String())
	}
	if formatter.ColorableStdOut != io.Writer(&stdout) {
		t.Fatal("Run did not restore Ginkgo's stdout")
	}
}

// TestNoFocusedSpecs: a focused spec (FIt, FDescribe) changes Ginkgo's
// exit behaviour and must never reach main.
func TestNoFocusedSpecs(t *testing.T) {
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	focused := regexp.MustCompile(`\b(FIt|FDescribe|FContext|FWhen|FEntry|FDescribeTable|Focus)\(|ginkgo\.Focus\b`)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if loc := focused.FindIndex(b); loc != nil {
			t.Errorf("%s has a focused spec: %q", f.Name(), b[loc[0]:loc[1]])
		}
	}
}
