// Package pki handles certificates and keys for meshdoctor: it issues a test
// PKI in the shape of NHS Spine's (root -> "Authentication G2" sub-CA ->
// server and client leaves), and reads and writes PKCS#12 and PEM.
package pki
