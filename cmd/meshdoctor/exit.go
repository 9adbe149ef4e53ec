package main

import (
	"errors"
	"fmt"
)

// Exit codes, documented in --help and the README.
const (
	exitOK          = 0   // everything passed (warnings allowed)
	exitFailed      = 1   // something was checked and failed
	exitUsage       = 2   // bad flags, arguments or configuration
	exitCannotRun   = 3   // the tool could not run (internal error)
	exitInterrupted = 130 // stopped by Ctrl-C or SIGTERM
)

const exitCodesHelp = `Exit codes:
  0    all passed (warnings allowed)
  1    something failed
  2    usage or configuration error
  3    meshdoctor could not run (internal error)
  130  interrupted`

// usageError is a mistake in how meshdoctor was called or configured.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// failedError means the job ran and found a failure; its details were
// already printed.
type failedError struct{ summary string }

func (e failedError) Error() string { return e.summary }

// cannotRunError means meshdoctor could not do its job for a reason that is
// not the user's input: a port in use, a disk full, a bug.
type cannotRunError struct{ err error }

func (e cannotRunError) Error() string { return e.err.Error() }
func (e cannotRunError) Unwrap() error { return e.err }

// exitCode maps an error to the exit code. Errors the commands did not
// classify come from the flag and argument parser: usage errors.
func exitCode(err error) int {
	var u usageError
	var f failedError
	var c cannotRunError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &f):
		return exitFailed
	case errors.As(err, &c):
		return exitCannotRun
	}
	return exitUsage
}

var errInterrupted = errors.New("interrupted")
