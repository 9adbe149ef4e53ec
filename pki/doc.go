// Package pki handles certificates and keys for meshdoctor. It reads every
// keystore a MESH user has with one loader (PKCS#12, Java KeyStore, PEM with
// plain or encrypted keys; the format found by content, not by name);
// describes certificates (signatures, key strength, usage, validity, names),
// recognises NHS's Spine CAs by fingerprint, makes and checks CSRs by the
// path-to-live rules; and issues a test PKI in the shape of Spine's (root ->
// "Authentication G2" sub-CA -> server and client leaves) for the sandbox
// and the tests.
package pki
