package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// junitRuns are the runs every JUnit test renders: the fixture, an empty
// run and one with hostile durations.
func junitRuns() map[string]*Run {
	odd := fixtureRun()
	odd.Checks[0].Duration = 927425 * time.Nanosecond // 0.000927425 s: the decimals junit-10.xsd's users choke on
	odd.Checks[1].Duration = -time.Second
	odd.Duration = 36 * time.Hour
	conform := fixtureConformanceRun()
	conform.Command, conform.Checks = "conform", nil
	return map[string]*Run{
		"conform":     conform,
		"fixture":     fixtureRun(),
		"conformance": fixtureConformanceRun(),
		"empty":       {Command: "check", Tool: NewTool()},
		"odd":         odd,
	}
}

func renderJUnit(t *testing.T, r *Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJUnitSchema validates our JUnit against Jenkins xunit's junit-10.xsd
// with xmllint, and proves the schema bites: a testcase with a status
// attribute (as Ginkgo writes) must be refused.
func TestJUnitSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (apt-get install libxml2-utils); TestJUnitStructure checks the same rules")
	}
	validate := func(doc []byte) error {
		path := filepath.Join(t.TempDir(), "junit.xml")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "junit-10.xsd"), path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	for name, r := range junitRuns() {
		if err := validate(renderJUnit(t, r)); err != nil {
			t.Errorf("%s: refused by junit-10.xsd: %v", name, err)
		}
	}
	doc := renderJUnit(t, fixtureRun())
	for _, bad := range []struct{ from, to string }{
		{`<testcase name=`, `<testcase status="passed" name=`},
		{`<testsuite name=`, `<testsuite disabled="0" name=`},
		{`<testsuites name=`, `<testsuites skipped="1" name=`},
		{`</testcase>`, `<properties></properties></testcase>`},
	} {
		if err := validate(bytes.Replace(doc, []byte(bad.from), []byte(bad.to), 1)); err == nil {
			t.Errorf("the schema accepted %s: the test cannot tell a bad report", bad.to)
		}
	}
}

// What junit-10.xsd allows, element by element: attributes (required ones
// marked), and children. Go's check of the same rules, so the structure is
// proven where xmllint is missing too.
var junitRules = map[string]struct {
	attrs    map[string]bool // name → required
	children []string
	text     bool
}{
	"testsuites": {attrs: map[string]bool{"name": false, "time": false, "tests": false, "failures": false, "errors": false}, children: []string{"testsuite"}},
	"testsuite": {attrs: map[string]bool{"name": true, "tests": true, "failures": true, "errors": true, "group": false, "time": false,
		"skipped": false, "timestamp": false, "hostname": false, "id": false, "package": false, "file": false, "log": false, "url": false},
		children: []string{"testsuite", "properties", "testcase", "system-out", "system-err"}},
	"properties": {children: []string{"property"}},
	"property":   {attrs: map[string]bool{"name": true, "value": true}},
	"testcase": {attrs: map[string]bool{"name": true, "time": false, "classname": false, "group": false},
		children: []string{"skipped", "error", "failure", "system-out", "system-err"}},
	"failure":    {attrs: map[string]bool{"type": false, "message": false}, text: true},
	"error":      {attrs: map[string]bool{"type": false, "message": false}, text: true},
	"skipped":    {attrs: map[string]bool{"type": false, "message": false}, text: true},
	"system-out": {text: true},
	"system-err": {text: true},
}

// junitTimeRE is a time in seconds with at most three decimals.
var junitTimeRE = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,3})?$`)

// node is an element of a parsed JUnit document.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     string
}

func parseXML(t *testing.T, doc []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	return root
}

func checkJUnitNode(t *testing.T, n *node, path string) {
	t.Helper()
	rule, ok := junitRules[n.name]
	if !ok {
		t.Errorf("%s: element <%s> is not in junit-10.xsd", path, n.name)
		return
	}
	for a := range n.attrs {
		if _, ok := rule.attrs[a]; !ok {
			t.Errorf("%s: attribute %q is not allowed on <%s>", path, a, n.name)
		}
	}
	for a, required := range rule.attrs {
		if _, ok := n.attrs[a]; required && !ok {
			t.Errorf("%s: <%s> lacks required attribute %q", path, n.name, a)
		}
	}
	if v, ok := n.attrs["time"]; ok && !junitTimeRE.MatchString(v) {
		t.Errorf("%s: time %q is not seconds with at most three decimals", path, v)
	}
	if !rule.text && strings.TrimSpace(n.text) != "" {
		t.Errorf("%s: <%s> holds text %q", path, n.name, n.text)
	}
	for _, c := range n.children {
		if !slices.Contains(rule.children, c.name) {
			t.Errorf("%s: <%s> is not allowed in <%s>", path, c.name, n.name)
		}
		checkJUnitNode(t, c, path+"/"+c.name)
	}
}

// TestJUnitStructure checks junit-10.xsd's rules in Go, the time rule of
// three decimals, and what Jenkins' and GitLab's junit parsers rely on:
// the counts agree with the cases, every case has a name and a classname,
// and a failing check is a <failure> with its remediation.
func TestJUnitStructure(t *testing.T) {
	for name, r := range junitRuns() {
		t.Run(name, func(t *testing.T) {
			doc := renderJUnit(t, r)
			root := parseXML(t, doc)
			if root == nil || root.name != "testsuites" {
				t.Fatalf("root is not <testsuites>")
			}
			checkJUnitNode(t, root, "testsuites")
			total := map[string]int{}
			for _, s := range root.children {
				count := map[string]int{}
				for _, c := range s.children {
					if c.name != "testcase" {
						continue
					}
					count["tests"]++
					if c.attrs["name"] == "" || c.attrs["classname"] == "" {
						t.Errorf("testcase %v lacks a name or classname", c.attrs)
					}
					for _, k := range c.children {
						switch k.name {
						case "failure":
							count["failures"]++
						case "error":
							count["errors"]++
						case "skipped":
							count["skipped"]++
						}
					}
				}
				for _, a := range []string{"tests", "failures", "errors", "skipped"} {
					if got, _ := strconv.Atoi(s.attrs[a]); got != count[a] {
						t.Errorf("suite %q says %s=%d, its cases make %d", s.attrs["name"], a, got, count[a])
					}
					total[a] += count[a]
				}
			}
			for _, a := range []string{"tests", "failures", "errors"} {
				if got, _ := strconv.Atoi(root.attrs[a]); got != total[a] {
					t.Errorf("testsuites says %s=%d, the suites make %d", a, got, total[a])
				}
			}
		})
	}
}

// TestJUnitSuites: a suite per part that ran; the whole catalogue listed,
// what the filter left out as skipped.
func TestJUnitSuites(t *testing.T) {
	for name, want := range map[string][]string{
		"fixture": {"meshdoctor checks"}, "conformance": {"meshdoctor checks", "meshdoctor conformance"},
		"conform": {"meshdoctor conformance"}, "empty": {"meshdoctor checks"},
	} {
		root := parseXML(t, renderJUnit(t, junitRuns()[name]))
		var got []string
		for _, s := range root.children {
			got = append(got, s.attrs["name"])
			if s.attrs["name"] == "meshdoctor conformance" && s.attrs["tests"] != "5" {
				t.Errorf("%s: the conformance suite lists %s specs, want the catalogue's 5", name, s.attrs["tests"])
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: suites %v, want %v", name, got, want)
		}
	}
}

// TestJUnitCases pins how each status shows in CI.
func TestJUnitCases(t *testing.T) {
	root := parseXML(t, renderJUnit(t, fixtureRun()))
	suite := root.children[0]
	props := map[string]string{}
	cases := map[string]*node{}
	for _, c := range suite.children {
		switch c.name {
		case "properties":
			for _, p := range c.children {
				props[p.attrs["name"]] = p.attrs["value"]
			}
		case "testcase":
			cases[c.attrs["classname"]] = c
		}
	}
	for k, v := range map[string]string{"environment": "int", "route": "internet", "meshdoctor.version": "v1.2.3"} {
		if props[k] != v {
			t.Errorf("property %s = %q, want %q", k, props[k], v)
		}
	}
	child := func(id, name string) *node {
		for _, k := range cases[id].children {
			if k.name == name {
				return k
			}
		}
		return nil
	}
	if c := cases["dns.resolve"]; c.attrs["name"] != "The MESH host name resolves" {
		t.Errorf("the testcase name is not the check's title: %v", c.attrs)
	}
	if f := child("tls.client-auth", "failure"); f == nil || !strings.Contains(f.text, "fix: Ask the service desk") || f.attrs["message"] == "" {
		t.Errorf("a failed check is not a failure with its remediation: %+v", f)
	}
	if child("dns.resolve", "failure") != nil || !strings.Contains(child("dns.resolve", "system-out").text, "WARNING: ") {
		t.Error("a warning must show in system-out without failing the case")
	}
	if s := child("mesh.handshake", "skipped"); s == nil || s.attrs["message"] != "skipped: tls.client-auth failed" {
		t.Errorf("a skip lacks its reason: %+v", s)
	}
	if child("auth.clock", "error") == nil {
		t.Error("a check that could not judge is not an <error>")
	}
	if out := child("target.eligibility", "system-out"); out == nil || !strings.Contains(out.text, "route: internet") {
		t.Error("evidence is not in system-out")
	}
	if got := cases["auth.credentials"].attrs["time"]; got != "0.001" {
		t.Errorf("time %q, want 0.001", got)
	}
}
