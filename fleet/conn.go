package fleet

import (
	"errors"
	"time"
)

// Connection timeouts, as the fleet's former net/http server had them.
const (
	headTimeout = 10 * time.Second       // to complete a started request (head and skipped body)
	idleTimeout = 5 * time.Minute        // between requests
	lingerTime  = 500 * time.Millisecond // reading after a closing answer, so it is not reset away
	readBufSize = 512                    // grows up to maxHeadBytes for long heads
)

var (
	// errAbort drops a connection without an answer, as a handler
	// panicking with http.ErrAbortHandler did.
	errAbort = errors.New("fleet: connection aborted")
	// errSlow asks the caller to wait the slow delay before the request at
	// the start of the buffer is answered (then set slowWaited and retry).
	errSlow = errors.New("fleet: slow instance")
)

// session is the protocol state of one HTTP/1.x connection of an instance,
// apart from how bytes move: request bytes are read into buf, and every
// complete (possibly pipelined) request in it is answered into out.
type session struct {
	in         *instance
	buf        []byte // read buffer; the unread bytes are buf[r:w]
	r, w       int
	skip       int64  // request body bytes still to discard
	out        []byte // answers not yet written
	scratch    []byte // per-request bodies (the worker's uptime)
	slowWaited bool   // the slow delay of the request at buf[r:] is over
}

func newSession(in *instance) session {
	return session{in: in, buf: make([]byte, readBufSize)}
}

// pending reports whether part of a request (head or body) has been read.
func (s *session) pending() bool { return s.w > s.r || s.skip > 0 }

// room makes space at buf[w:] for the next read.
func (s *session) room() {
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	if s.w < len(s.buf) {
		return
	}
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
		return
	}
	// parseHead refuses heads beyond maxHeadBytes before the buffer gets there.
	nb := make([]byte, min(2*len(s.buf), maxHeadBytes))
	s.w = copy(nb, s.buf[:s.w])
	s.buf = nb
}

// answerBuffered answers every complete request in the buffer, appending
// the answers to out. closing means the last answer ends the connection.
// errSlow leaves the request it is about unconsumed.
func (s *session) answerBuffered() (closing bool, err error) {
	for {
		if s.skip > 0 {
			k := min(s.skip, int64(s.w-s.r))
			s.r += int(k)
			s.skip -= k
			if s.skip > 0 {
				return false, nil
			}
		}
		if s.r == s.w {
			return false, nil
		}
		h, n, err := parseHead(s.buf[s.r:s.w])
		if err != nil {
			s.out = appendRefusal(s.out, err)
			return true, nil
		}
		if n == 0 {
			return false, nil
		}
		forceClose := h.chunked || h.expect100 && h.bodyLen > 0 || h.bodyLen > maxSkipBody // body left unread
		mode := modeFor(&h, forceClose)
		if err := s.answer(&h, mode); err != nil {
			return false, err
		}
		s.r += n
		if !forceClose {
			s.skip = h.bodyLen
		}
		if mode.closes() {
			return true, nil
		}
	}
}

// answer appends the instance's answer to one request.
func (s *session) answer(h *reqHead, mode connMode) error {
	in := s.in
	rl := in.route(h.path)
	get, head := string(h.method) == "GET", string(h.method) == "HEAD"
	if rl == roleNone || !get && !head {
		code, body := 404, notFoundBody
		if rl != roleNone {
			code, body = 405, notAllowedBody
		}
		s.out = appendErrorAnswer(s.out, code, body, h.http10, head, in.f.dates.get(time.Now()), mode)
		return nil
	}
	if in.getState() == StateSlow && !s.slowWaited {
		return errSlow
	}
	s.slowWaited = false
	st := in.getState()
	switch st {
	case StateDead: // raced with going dead: behave like a closed socket
		return errAbort
	case StateSlow:
		st = StateReady
	}
	now := time.Now()
	if s.scratch == nil {
		s.scratch = make([]byte, 0, 160)
	}
	resp := answer(in, rl, st, now, s.scratch)
	s.out = appendProbeAnswer(s.out, resp, h.http10, head, in.f.dates.get(now), mode)
	return nil
}
