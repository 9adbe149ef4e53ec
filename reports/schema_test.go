package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/checks"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/sandbox"
)

// validate checks doc against the JSON Schema subset run.schema.json uses:
// type, const, enum, required, properties, additionalProperties (false or a
// schema), items, minimum, pattern, format date-time and local $ref. A
// keyword outside the subset fails the test, so the schema cannot grow a
// rule this validator silently ignores.
func validate(root, schema map[string]any, doc any, path string) []string {
	if ref, ok := schema["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			return []string{path + ": unsupported $ref " + ref}
		}
		def, ok := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			return []string{path + ": no $defs/" + name}
		}
		return validate(root, def, doc, path)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	for kw := range schema {
		switch kw {
		case "$schema", "$id", "$defs", "title", "description", "type", "const", "enum", "required", "properties",
			"additionalProperties", "items", "minimum", "pattern", "format":
		default:
			fail("schema keyword %q is outside the validated subset", kw)
		}
	}
	if t, ok := schema["type"].(string); ok && !hasType(doc, t) {
		fail("is %T, want %s", doc, t)
		return errs
	}
	if c, ok := schema["const"]; ok && fmt.Sprint(c) != fmt.Sprint(doc) {
		fail("is %v, want %v", doc, c)
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || e == doc
		}
		if !found {
			fail("%v is not one of %v", doc, enum)
		}
	}
	if min, ok := schema["minimum"].(float64); ok {
		if n, ok := doc.(float64); ok && n < min {
			fail("%v is below %v", n, min)
		}
	}
	if s, ok := doc.(string); ok {
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			fail("%q does not match %s", s, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				fail("%q is not a date-time", s)
			}
		}
	}
	if obj, ok := doc.(map[string]any); ok {
		for _, r := range asList(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				fail("lacks required member %q", r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(root, ps, obj[k], path+"."+k)...)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("member %q is not in the schema", k)
				}
			case map[string]any:
				errs = append(errs, validate(root, ap, obj[k], path+"."+k)...)
			}
		}
	}
	if arr, ok := doc.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, v := range arr {
				errs = append(errs, validate(root, items, v, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(float64)
		return ok && n == float64(int64(n))
	case "number":
		_, ok := v.(float64)
		return ok
	}
	return false
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("schema", "run.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("run.schema.json: %v", err)
	}
	return s
}

func jsonDoc(t *testing.T, r *Run) any {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// realRun checks an embedded sandbox with the catalogue (offline), as `meshdoctor
// check --sandbox` does, and returns the run, finished.
func realRun(t *testing.T, faults ...sandbox.Fault) *Run {
	t.Helper()
	srv, err := sandbox.Start(sandbox.Config{Listen: "127.0.0.1:0", PKIDir: t.TempDir(), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	target, err := mesh.LoadProfile(srv.Files().Profile)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{"password": "embedded sandbox", "shared_key": "embedded sandbox", "keystore_password": "embedded sandbox"}
	r := &Run{Tool: NewTool(), Command: "check", Target: NewTarget(target, sources), Started: time.Now().UTC()}
	r.Target.Sandbox = true
	opts := checks.Options{Timeout: 10 * time.Second, Deadline: 30 * time.Second, Sources: sources, Getenv: func(string) string { return "" }}
	// Every check but geo's, which may look for this machine's public address.
	selected, err := checks.Select(nil, []string{"geo"})
	if err != nil {
		t.Fatal(err)
	}
	r.Checks = checks.Run(context.Background(), target, selected, opts, nil)
	r.Finish(time.Now().UTC())
	return r
}

// TestJSONSchema validates real output (a run of every check against an
// embedded sandbox, passing and failing) and the fixture against
// schema/run.schema.json, and proves the validator bites.
func TestJSONSchema(t *testing.T) {
	schema := loadSchema(t)
	runs := map[string]*Run{
		"fixture":     fixtureRun(),
		"conformance": fixtureConformanceRun(),
		"empty":       {Command: "check", Tool: NewTool()},
	}
	if !testing.Short() {
		runs["sandbox"] = realRun(t)
		runs["sandbox, token refused"] = realRun(t, sandbox.FaultRejectToken)
	}
	for name, r := range runs {
		t.Run(name, func(t *testing.T) {
			for _, e := range validate(schema, schema, jsonDoc(t, r), "$") {
				t.Error(e)
			}
		})
	}
	if r := runs["sandbox, token refused"]; r != nil && r.Summary.OK {
		t.Error("the failing run passed: the schema test saw no failure")
	}
	// The validator must refuse what the schema forbids.
	bad := []func(map[string]any){
		func(d map[string]any) { delete(d, "summary") },
		func(d map[string]any) { d["secret"] = "x" },
		func(d map[string]any) { d["schema"] = 2.0 },
		func(d map[string]any) { d["checks"].([]any)[0].(map[string]any)["status"] = "ok" },
		func(d map[string]any) { d["checks"].([]any)[0].(map[string]any)["evidence"] = map[string]any{"n": 1.0} },
		func(d map[string]any) { d["started"] = "yesterday" },
		func(d map[string]any) { d["duration_ms"] = -1.0 },
	}
	for i, mutate := range bad {
		doc := jsonDoc(t, fixtureRun()).(map[string]any)
		mutate(doc)
		if len(validate(schema, schema, doc, "$")) == 0 {
			t.Errorf("mutation %d was not refused", i)
		}
	}
}
