// Package reports renders one model of a meshdoctor run — the tool, the
// target without its secrets, the check results, the conformance results and
// a summary — for every audience: a person at a terminal (text), a script
// (JSON, schema 1), CI systems and reviewers.
//
// The JSON document grows by adding members, never by renaming them: CI
// pipelines depend on it.
package reports
