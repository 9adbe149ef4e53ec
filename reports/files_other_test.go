//go:build !unix

package reports

import "testing"

func writeIntoFIFO(t *testing.T) { t.Skip("no FIFOs on this platform") }
