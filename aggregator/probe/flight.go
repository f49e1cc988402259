package probe

import (
	"errors"
	"time"
)

// Flight is one probe run asynchronously by a Poller: the caller fills Req,
// Deadline and Done, hands it to an AsyncChecker's Start, and gets it back
// through Done with Resp filled. A Flight is reused from probe to probe; it
// belongs to the Poller from Start until Done is called.
type Flight struct {
	Req *Request
	// Deadline is when the answer is due. The Poller moves it later by as
	// long as the probe waited for the Poller to send it, so the timeout
	// counts from the send.
	Deadline time.Time
	// Done is called once per started probe, on the Poller's goroutine
	// (also for a probe the Poller finished the blocking way). It must not
	// block: it holds up every other answer. Resp.Body is valid only until
	// Done returns.
	Done func(*Flight)
	Resp Response

	// The Poller's own from Start until Done.
	checker *httpChecker
	pc      *polledConn
	start   time.Time
	heapIdx int // place in the poller's deadline heap while in flight (-1 once taken off)
	// afterAnswer: the request was pipelined behind another whose answer
	// has come.
	afterAnswer bool
}

// AsyncChecker is implemented by checkers that can run a probe without a
// goroutine waiting for it: plain HTTP on an established keep-alive
// connection, on Linux.
type AsyncChecker interface {
	// Start hands f to the Poller, which sends its request, and returns
	// true; Done follows (should the connection be gone by then, the
	// Poller sends it on a new one the blocking way). It returns false,
	// having done nothing, when this probe must run through Check instead
	// (no connection yet, TLS, or no Poller, or the Poller closed).
	Start(f *Flight) bool
	// StartPair sends both requests in one write, second pipelined behind
	// first on the same connection, and returns true; both Dones follow.
	// It returns false, having done nothing, when the pair cannot go out
	// that way (as for Start, or the server was found not to answer
	// pipelined requests).
	StartPair(first, second *Flight) bool
}

// errWouldBlock ends a parse of the bytes one read returned when the
// response needs more.
var errWouldBlock = errors.New("response incomplete")

// bytesSource serves bytes already read, then errWouldBlock.
type bytesSource struct{ b []byte }

func (s *bytesSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
