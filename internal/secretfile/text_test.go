package secretfile

import "testing"

func TestText(t *testing.T) {
	utf16le := func(s string) []byte { // with BOM, as Out-File writes it
		b := []byte{0xff, 0xfe}
		for _, r := range s {
			b = append(b, byte(r), byte(r>>8))
		}
		return b
	}
	utf16be := func(s string) []byte {
		b := []byte{0xfe, 0xff}
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"plain", []byte("s3cret"), "s3cret"},
		{"echo's newline", []byte("s3cret\n"), "s3cret"},
		{"Notepad's CRLF", []byte("s3cret\r\n"), "s3cret"},
		{"spaces kept", []byte(" s3 cret \n"), " s3 cret "},
		{"UTF-8 BOM (Set-Content -Encoding UTF8)", []byte("\xef\xbb\xbfs3cret\r\n"), "s3cret"},
		{"UTF-16LE BOM (Out-File, >)", utf16le("s3cret\r\n"), "s3cret"},
		{"UTF-16LE, not ASCII", utf16le("pa£ss\r\n"), "pa£ss"},
		{"UTF-16BE BOM", utf16be("s3cret\n"), "s3cret"},
		{"other bytes kept", []byte("\xa3pass"), "\xa3pass"},
	} {
		got, err := Text(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: Text(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
	if _, err := Text([]byte{0xff, 0xfe, 's', 0, '3'}); err == nil {
		t.Error("UTF-16 with an odd number of bytes: no error")
	}
}
