// Package checks is meshdoctor's pluggable diagnostics: the Check contract,
// the catalogue, the runner and one file per check.
//
// A check is data plus one function: a stable ID ("family.name"), a title,
// the IDs it needs, and a function that judges what the run has observed.
// Adding a check is adding one file that declares a Check value and one line
// in catalogue.go.
//
// Checks observe once and judge many times: the first check that needs a
// fact (the resolved addresses, the TLS handshake, the server's answer to
// the MESH handshake) gathers it through Facts, and every later check reads
// the same observation. Facts live in the run, never in globals.
package checks
