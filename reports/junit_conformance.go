package reports

import "bytes"

// mapConformanceTexts applies fn to the texts of the run's conformance
// results.
func mapConformanceTexts(r *Run, fn func(string) string) {}

// conformanceSuites are the JUnit testsuites of the run's conformance specs.
func conformanceSuites(r *Run) []junitSuite { return nil }

// writeConformanceLog logs the run's conformance specs.
func writeConformanceLog(b *bytes.Buffer, r *Run) {}

// conformanceHTML lists the run's conformance specs for the HTML report.
func conformanceHTML(r *Run) []htmlSpec { return nil }
