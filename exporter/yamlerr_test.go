package exporter

import (
	"strings"
	"testing"
)

func TestYAMLErrorsSpeakOfTheFile(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{"targets:\n  - name: a\n    colour: blue\n", "line 3: field colour not found"},
		{"targets:\n  - name: a\n    modules: Sk-secret-looking\n", "line 3: cannot unmarshal !!str a value"},
		{"modules:\n  http: {}\n", "line 2: field http not found"},
	} {
		_, err := Parse([]byte(tc.config), t.TempDir(), func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.config, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "exporter.") || strings.Contains(err.Error(), "Sk-secret") {
			t.Errorf("%q: %v names a Go type or repeats the value", tc.config, err)
		}
	}
}
