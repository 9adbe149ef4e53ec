// Package prober runs meshdoctor's jobs against one mesh.Target and returns
// the run model: the checks (Checks), the file checks alone (Identity), the
// main job's conformance after the checks (Conform) and the round trip
// (RoundTrip). The CLI's check, run and roundtrip commands and the
// Prometheus exporter call the same functions; the CLI only parses flags,
// builds targets and picks exit codes.
package prober
