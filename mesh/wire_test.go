package mesh

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseChunkRange(t *testing.T) {
	tests := []struct {
		in      string
		want    ChunkRange
		wantErr string
	}{
		{"1:1", ChunkRange{1, 1}, ""},
		{"2:5", ChunkRange{2, 5}, ""},
		{"5:5", ChunkRange{5, 5}, ""},
		{"0001:0002", ChunkRange{1, 2}, ""},
		{"", ChunkRange{}, "want k:n"},
		{"1", ChunkRange{}, "want k:n"},
		{"1-2", ChunkRange{}, "want k:n"},
		{"0:1", ChunkRange{}, "start at 1"},
		{"1:0", ChunkRange{}, "start at 1"},
		{"3:2", ChunkRange{}, "greater than the total"},
		{" 1:2", ChunkRange{}, "digits"},
		{"1:2 ", ChunkRange{}, "digits"},
		{"-1:2", ChunkRange{}, "digits"},
		{"a:b", ChunkRange{}, "digits"},
		{"1:2:3", ChunkRange{}, "digits"},
		{"1:999999999999999999", ChunkRange{1, 999999999999999999}, ""},
		{"1:" + strings.Repeat("9", 30), ChunkRange{}, "longer than 20"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseChunkRange(tt.in)
			if tt.wantErr != "" {
				var ce *ChunkRangeError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseChunkRange(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseChunkRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if round, _ := ParseChunkRange(got.String()); round != got {
				t.Fatalf("%v does not round-trip", got)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for in, want := range map[string]bool{"Y": true, "y": true, "TRUE": true, "yes": true, "1": true, "N": false, "": false, "no": false, "x": false} {
		if ParseFlag(in) != want {
			t.Errorf("ParseFlag(%q) = %v", in, !want)
		}
	}
	if FormatFlag(true) != "Y" || FormatFlag(false) != "N" {
		t.Error("FormatFlag must write Y and N")
	}
}

func FuzzParseChunkRange(f *testing.F) {
	for _, s := range []string{"1:1", "2:5", "0:0", "9:3", "1:", ":1", "a:b", "１:２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := ParseChunkRange(s)
		if err != nil {
			var ce *ChunkRangeError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ChunkRangeError", err)
			}
			return
		}
		if cr.Index < 1 || cr.Index > cr.Total {
			t.Fatalf("%q accepted as %v", s, cr)
		}
		a, b, _ := strings.Cut(s, ":")
		if x, _ := strconv.Atoi(a); x != cr.Index {
			t.Fatalf("%q read index %d", s, cr.Index)
		}
		if y, _ := strconv.Atoi(b); y != cr.Total {
			t.Fatalf("%q read total %d", s, cr.Total)
		}
	})
}
