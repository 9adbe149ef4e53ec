// Package reports renders one model of a meshdoctor run — the tool, the
// target without its secrets, the check results, the conformance results and
// a summary — for every audience: a person at a terminal (text), a script
// (JSON, schema 1, described by schema/run.schema.json), CI systems (JUnit
// XML that Jenkins xunit's junit-10.xsd accepts), an assurance reviewer (a
// self-contained HTML evidence report) and a service desk (a support bundle).
//
// Every writer renders into memory and passes the whole document through
// the run's Redactor before a byte reaches its destination: the mailbox
// password, shared key and keystore password, PEM private keys and the HMAC
// of any NHSMESH token are never written.
//
// The JSON document grows by adding members, never by renaming them: CI
// pipelines depend on it.
package reports
