package probe

import (
	"errors"
	"io"
	"net"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reach says whether a probe got an answer from its instance. It is how
// the aggregator tells "the instance said no" (believed) from "nothing
// came back" (which, everywhere at once, points at vigil's own network).
// vigil's own resource faults are not classified here: Skipped catches
// them first, and such a probe is skipped.
type Reach uint8

// Reaches.
const (
	// Answered: the instance spoke. Any HTTP status, a body (valid or not,
	// too large or not), a gRPC health status, a TLS certificate it showed.
	// Also any failure Classify does not recognise.
	Answered Reach = iota
	// Unreachable: no answer came back at connection level: the connection
	// was refused, reset or timed out, there was no route to the host, the
	// name did not resolve, or the connection closed before any answer.
	Unreachable
)

func (r Reach) String() string {
	if r == Unreachable {
		return "unreachable"
	}
	return "answered"
}

// Failed reports whether the probe got no answer.
func (r Reach) Failed() bool { return r == Unreachable }

// Classify says whether resp is an answer. It costs nothing for a probe
// without an error (the common case); only failures walk the error chain.
func Classify(resp *Response) Reach {
	if resp.Err == nil {
		return Answered
	}
	return classifyErr(resp.Err)
}

// unreachableErrnos are connection-level failures: nothing answered.
var unreachableErrnos = [...]syscall.Errno{
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
	syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.ENETRESET,
}

func classifyErr(err error) Reach {
	if errors.Is(err, errClosed) || errors.Is(err, net.ErrClosed) {
		return Answered // vigil closed the checker (the instance left): nothing about the network
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range unreachableErrnos {
			if errno == e {
				return Unreachable
			}
		}
	}
	if errors.Is(err, errMalformed) || errors.Is(err, ErrBodyTooLarge) {
		return Answered
	}
	if isTimeout(err) {
		return Unreachable
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return Unreachable
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// Closed before an answer; once the body has begun, the instance
		// did answer (with half a body).
		var pe *probeError
		if errors.As(err, &pe) && pe.phase == phaseReadBody {
			return Answered
		}
		return Unreachable
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return Unreachable
		}
	}
	return Answered
}
