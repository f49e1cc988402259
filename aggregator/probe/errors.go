package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// probeError is a probe failure with operator-facing text. It wraps the
// underlying cause, so errors.Is(err, os.ErrDeadlineExceeded) or
// errors.Is(err, syscall.ECONNREFUSED) still work on Response.Err.
type probeError struct {
	msg   string
	cause error
	phase string // for I/O failures, what the probe was doing (netErr's phase)
}

func (e *probeError) Error() string { return e.msg }
func (e *probeError) Unwrap() error { return e.cause }

// errMalformed is wrapped by every "this is not valid HTTP" failure.
var errMalformed = errors.New("malformed HTTP response")

// ErrMalformed matches (errors.Is) a Response.Err caused by a response that
// is not valid HTTP/1.x.
var ErrMalformed = errMalformed

// ErrBodyTooLarge matches (errors.Is) a Response.Err caused by a body over
// the probe's max_body_bytes.
var ErrBodyTooLarge = errors.New("body exceeds limit")

// errClosed is reported by a Checker after Close.
var errClosed = errors.New("checker closed")

func malformed(format string, args ...any) error {
	return &probeError{msg: fmt.Sprintf(format, args...), cause: errMalformed}
}

// clip quotes at most 40 bytes of b for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q...", b[:40])
	}
	return fmt.Sprintf("%q", b)
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// timeoutErr reports a deadline hit while doing what.
func timeoutErr(budget time.Duration, what string, cause error) *probeError {
	if cause == nil {
		cause = os.ErrDeadlineExceeded
	}
	return &probeError{msg: fmt.Sprintf("timeout after %s %s", fmtBudget(budget), what), cause: cause}
}

func fmtBudget(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// phaseReadBody is the I/O phase after a status line and headers arrived:
// the instance has begun to answer.
const phaseReadBody = "read body"

// netErr turns a connection error during phase (connect, write request,
// read response, read body, ...) into short text: "connect: connection
// refused", "read response: connection reset by peer", "timeout after 1s
// ...". The error remembers the phase (see Classify).
func netErr(phase string, budget time.Duration, err error) error {
	e := netErrText(phase, budget, err)
	e.phase = phase
	return e
}

func netErrText(phase string, budget time.Duration, err error) *probeError {
	if isTimeout(err) {
		return timeoutErr(budget, phaseDoing(phase), err)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &probeError{msg: phase + ": connection refused", cause: err}
	case errors.Is(err, syscall.ECONNRESET):
		return &probeError{msg: phase + ": connection reset by peer", cause: err}
	case errors.Is(err, syscall.EPIPE):
		return &probeError{msg: phase + ": broken pipe", cause: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &probeError{msg: phase + ": connection closed by server", cause: err}
	case errors.Is(err, net.ErrClosed):
		return &probeError{msg: phase + ": " + errClosed.Error(), cause: err}
	}
	msg := err.Error()
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg = oe.Err.Error()
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			msg = se.Err.Error()
		}
	}
	return &probeError{msg: phase + ": " + msg, cause: err}
}

func phaseDoing(phase string) string {
	switch phase {
	case "connect":
		return "connecting"
	case "tls handshake":
		return "in TLS handshake"
	case "write request":
		return "writing request"
	case "read response":
		return "awaiting response"
	case phaseReadBody:
		return "reading body"
	default:
		return "in " + phase
	}
}
