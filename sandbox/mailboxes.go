package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// DefaultMailboxes are NHS's mesh-sandbox test mailboxes (mesh-api.md §2.3),
// all with the password "password".
func DefaultMailboxes() []Mailbox {
	return []Mailbox{
		{ID: "X26ABC1", Name: "TESTMB1", BillingEntity: "England", ODSCode: "X26", OrgCode: "X26", Password: DefaultPassword},
		{ID: "X26ABC2", Name: "TESTMB2", BillingEntity: "Wales", ODSCode: "X26", OrgCode: "X26", Password: DefaultPassword},
		{ID: "X26ABC3", Name: "TESTMB3", BillingEntity: "England", ODSCode: "X27", OrgCode: "X27", Password: DefaultPassword},
	}
}

// DefaultWorkflows are NHS's mesh-sandbox test workflows. They feed endpoint
// lookup and workflow search; like NHS's sandbox, sends are not checked
// against them.
func DefaultWorkflows() []Workflow {
	return []Workflow{
		{ID: "TEST_WORKFLOW", Senders: []string{"X26ABC1"}, Receivers: []string{"X26ABC2"}},
		{ID: "TEST_WORKFLOW_ACK", Senders: []string{"X26ABC2"}, Receivers: []string{"X26ABC1", "X26ABC3"}},
		{ID: "TEST_WORKFLOW2", Senders: []string{"X26ABC1"}, Receivers: []string{"X26ABC1", "X26ABC2", "X26ABC3"}},
	}
}

// LoadMailboxes reads mailboxes in the format of NHS's mailboxes.jsonl: one
// JSON object per line, blank lines allowed. Mailbox ids are upper-cased (ids
// are case-insensitive); an empty or repeated id is an error. Errors name the
// file and line.
func LoadMailboxes(path string) ([]Mailbox, error) {
	var out []Mailbox
	seen := map[string]int{}
	err := readJSONLines(path, func(line int, raw []byte) error {
		var mb Mailbox
		if err := json.Unmarshal(raw, &mb); err != nil {
			return jsonLineError(err)
		}
		mb.ID = strings.ToUpper(strings.TrimSpace(mb.ID))
		switch {
		case mb.ID == "":
			return errors.New(`"mailbox_id" is missing or empty`)
		case strings.ContainsAny(mb.ID, " \t:/?#"):
			return fmt.Errorf("mailbox_id %q contains a character that cannot appear in a MESH token or URL", mb.ID)
		}
		if first, dup := seen[mb.ID]; dup {
			return fmt.Errorf("mailbox %s is defined twice (first on line %d)", mb.ID, first)
		}
		seen[mb.ID] = line
		out = append(out, mb)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no mailboxes", path)
	}
	return out, nil
}

// LoadWorkflows reads workflows in the format of NHS's workflows.jsonl: one
// JSON object per line ({"workflow_id", "senders", "receivers"}), blank lines
// allowed. Mailbox ids are upper-cased; an empty or repeated workflow id is an
// error. Errors name the file and line.
func LoadWorkflows(path string) ([]Workflow, error) {
	var out []Workflow
	seen := map[string]int{}
	err := readJSONLines(path, func(line int, raw []byte) error {
		var wf Workflow
		if err := json.Unmarshal(raw, &wf); err != nil {
			return jsonLineError(err)
		}
		wf.ID = strings.TrimSpace(wf.ID)
		if wf.ID == "" {
			return errors.New(`"workflow_id" is missing or empty`)
		}
		if first, dup := seen[wf.ID]; dup {
			return fmt.Errorf("workflow %s is defined twice (first on line %d)", wf.ID, first)
		}
		seen[wf.ID] = line
		for i, s := range wf.Senders {
			wf.Senders[i] = strings.ToUpper(strings.TrimSpace(s))
		}
		for i, r := range wf.Receivers {
			wf.Receivers[i] = strings.ToUpper(strings.TrimSpace(r))
		}
		out = append(out, wf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readJSONLines calls fn for each non-blank line of a JSONL file, and
// prefixes fn's error with file:line.
func readJSONLines(path string, fn func(line int, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		text := bytes.TrimSpace(raw)
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		if len(text) > 0 {
			if text[0] != '{' {
				return fmt.Errorf("%s:%d: want one JSON object per line", path, line)
			}
			if ferr := fn(line, text); ferr != nil {
				return fmt.Errorf("%s:%d: %w", path, line, ferr)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// jsonLineError words a JSON decoding error without Go type names.
func jsonLineError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at column %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q has the wrong type (a JSON %s)", typ.Field, typ.Value)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}
