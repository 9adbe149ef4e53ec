package secretfile

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf16"
)

// Text is the secret a file holds, as the *_FILE variables and the
// exporter's secret files name it: trailing line ends trimmed (\n or \r\n,
// as an editor or `echo` leaves them), and the text decoded as Windows tools
// write it. Windows PowerShell 5.1's Out-File and `>` write UTF-16
// with a byte order mark, and its `Set-Content -Encoding UTF8` a UTF-8 one;
// read as bytes, such a file gives a password that fails as "wrong" with
// nothing to show why. Any other byte is kept as it is: a password may
// hold spaces.
func Text(b []byte) (string, error) {
	var s string
	switch {
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		s = string(b[3:])
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}), bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		if len(b)%2 != 0 {
			return "", errors.New("is UTF-16 (it starts with a byte order mark) but has an odd number of bytes")
		}
		u := make([]uint16, 0, len(b)/2-1)
		for i := 2; i < len(b); i += 2 {
			if b[0] == 0xff {
				u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		s = string(utf16.Decode(u))
	default:
		s = string(b)
	}
	return strings.TrimRight(s, "\r\n"), nil
}
