package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/sockerr"
)

// netFailure names a connection failure the way a network engineer would.
type netFailure string

const (
	failRefused     netFailure = "refused"
	failTimeout     netFailure = "timed out"
	failReset       netFailure = "reset"
	failUnreachable netFailure = "unreachable"
	failClosed      netFailure = "closed"
	failOther       netFailure = "failed"
)

func classifyNet(err error) netFailure {
	switch {
	case err == nil:
		return ""
	case sockerr.Refused(err):
		return failRefused
	case sockerr.Reset(err), sockerr.Aborted(err):
		return failReset
	case sockerr.Unreachable(err):
		return failUnreachable
	case sockerr.TimedOut(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return failTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return failClosed
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failTimeout
	}
	return failOther
}

// remoteAlert returns the TLS alert the peer sent ("unknown certificate
// authority"), or "".
func remoteAlert(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return strings.TrimPrefix(op.Err.Error(), "tls: ")
	}
	return ""
}

// clientCertAlert reports whether an alert is a server's verdict on the
// client's certificate.
func clientCertAlert(alert string) bool {
	switch alert {
	case "unknown certificate authority", "bad certificate", "certificate required",
		"expired certificate", "unsupported certificate", "revoked certificate",
		"unknown certificate", "access denied", "handshake failure", "decrypt error":
		return true
	}
	return false
}

// alertName is the TLS specification's name of an alert, as openssl and
// server logs print it.
func alertName(alert string) string {
	return map[string]string{
		"unknown certificate authority":  "unknown_ca",
		"bad certificate":                "bad_certificate",
		"certificate required":           "certificate_required",
		"expired certificate":            "certificate_expired",
		"unsupported certificate":        "unsupported_certificate",
		"revoked certificate":            "certificate_revoked",
		"unknown certificate":            "certificate_unknown",
		"access denied":                  "access_denied",
		"handshake failure":              "handshake_failure",
		"protocol version not supported": "protocol_version",
		"decrypt error":                  "decrypt_error",
	}[alert]
}

func certName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}
