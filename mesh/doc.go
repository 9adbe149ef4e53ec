// Package mesh is the MESH protocol as meshdoctor speaks it: the catalogue of
// environments and routes, the NHSMESH authorization token, the error model of
// the v1 and v2 APIs, and a streaming Client for every endpoint a mailbox uses.
//
// Everything else in meshdoctor (checks, conformance suites, the sandbox)
// builds on this package, so it holds only protocol facts and never imports
// them.
package mesh
