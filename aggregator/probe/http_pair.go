package probe

import (
	"errors"
	"net"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// PairChecker runs an instance's two probes to one address the blocking
// way in one exchange: both requests go out in one write on one
// connection (HTTP/1.1 pipelining) and the answers are read in order. A
// pair on a short-lived connection costs one connection instead of two.
type PairChecker interface {
	// CheckPair runs first and second, which must finish by deadline,
	// filling r1 and r2 (reset by the caller) from s1 and s2, which must
	// be distinct. Response bodies alias their own Scratch.
	CheckPair(first, second *Request, deadline time.Time, s1, s2 *Scratch, r1, r2 *Response)
	// ShortLived reports whether the checker's last connection was a
	// short-lived one (the fd budget had no kept slot for it): its pairs
	// then cost a connection each, and go out best through CheckPair.
	ShortLived() bool
}

// ShortLived reports whether the checker's last connection was short-lived.
func (c *httpChecker) ShortLived() bool { return c.keeper.shortLived() }

// CheckPair runs the pair in one write unless the server was seen to drop
// pipelined requests (then one after the other, on the same connection
// when it is kept). As in Check, a reused connection found dead before
// any answer byte is redialed once. A server that closes after the first
// answer, or never answers the second request, costs the second probe a
// fresh try of its own, not a failure; the latter also stops pipelining.
func (c *httpChecker) CheckPair(first, second *Request, deadline time.Time, s1, s2 *Scratch, r1, r2 *Response) {
	start := time.Now()
	budget := deadline.Sub(start)
	if c.noPipelining.Load() || first == nil || second == nil ||
		first.kind != upstreams.KindHTTP || second.kind != upstreams.KindHTTP || budget <= 0 {
		c.Check(first, deadline, s1, r1)
		c.Check(second, time.Now().Add(budget), s2, r2)
		return
	}
	c.stats.probes.Add(1) // the second is counted once it is settled
	var again *Response   // the second's answer did not come: it gets a try of its own
	for attempt := 0; ; attempt++ {
		conn, reused, short, err := c.connection(deadline, budget)
		if err != nil {
			r1.Err, r2.Err = err, err
			r1.Latency, r2.Latency = time.Since(start), time.Since(start)
			break
		}
		if reused {
			c.stats.reused.Add(2)
		}
		stale, retrySecond := c.roundTripPair(conn, short, first, second, deadline, budget, s1, s2, r1, r2)
		if !stale || !reused || attempt > 0 {
			if retrySecond {
				again = r2
			}
			break
		}
		c.stats.staleRetries.Add(1)
		*r1, *r2 = Response{}, Response{}
	}
	c.stats.ended(r1.Err)
	if again == nil {
		c.stats.probes.Add(1)
		c.stats.ended(r2.Err)
		return
	}
	c.stats.staleRetries.Add(1) // Check counts the probe
	*again = Response{}
	c.Check(second, time.Now().Add(budget), s2, again)
}

// roundTripPair writes both requests in one write on conn and reads both
// answers. stale: the connection failed before any answer byte (and not by
// timeout); nothing is filled then that the caller keeps. retrySecond: the
// first probe has its answer but the second got none on this connection
// (closed after the first answer, or a pipelined request dropped).
func (c *httpChecker) roundTripPair(conn net.Conn, short bool, first, second *Request, deadline time.Time, budget time.Duration,
	s1, s2 *Scratch, r1, r2 *Response) (stale, retrySecond bool) {
	both := func(err error) {
		r1.Err, r2.Err = err, err
	}
	if err := conn.SetDeadline(deadline); err != nil {
		c.drop(conn)
		both(netErr("write request", budget, err))
		return !isTimeout(err), false
	}
	t0 := time.Now()
	if _, err := conn.Write(c.pairBytes(first, second)); err != nil {
		c.drop(conn)
		both(netErr("write request", budget, err))
		r1.Latency, r2.Latency = time.Since(t0), time.Since(t0)
		return !isTimeout(err), false
	}
	c.stats.pipelined.Add(1)
	var rd reader
	rd.reset(conn, s1.Buf, first.maxBody)
	keep, err := c.readResponse(&rd, first, r1)
	s1.Buf = rd.buf[:0]
	r1.Latency = time.Since(t0)
	if err != nil {
		c.drop(conn)
		stale = rd.total == 0 && !isIOTimeout(err)
		r1.Err = c.readErr(err, budget)
		r2.Err = r1.Err
		return stale, !stale && !isIOTimeout(err) // a broken first answer: the second may still pass elsewhere
	}
	if !keep {
		c.drop(conn) // the server closes after the first answer
		return false, true
	}
	var rd2 reader
	rd2.reset(conn, s2.Buf, second.maxBody)
	rd2.prefill(rd.buf[rd.r:rd.w])
	got := rd2.total // bytes of the second answer already read with the first
	keep, err = c.readResponse(&rd2, second, r2)
	keep = keep && rd2.unread() == 0 // see roundTrip
	s2.Buf = rd2.buf[:0]
	r2.Latency = time.Since(t0)
	if err != nil {
		c.drop(conn)
		if rd2.total == got { // not one byte of the second answer
			if isIOTimeout(err) {
				c.stopPipelining(c.log)
			}
			return false, true
		}
		r2.Err = c.readErr(err, budget)
		return false, false
	}
	if !keep || short {
		c.drop(conn)
	} else {
		c.adopt(conn)
	}
	return false, false
}

// readErr turns a readResponse error into a Response.Err.
func (c *httpChecker) readErr(err error, budget time.Duration) error {
	var ioe *ioError
	if errors.As(err, &ioe) {
		err = netErr(ioe.phase, budget, ioe.err)
		if c.tls != nil {
			err = withTLSHint(err)
		}
	}
	return err
}

// isIOTimeout reports whether a readResponse error is a deadline expiry.
func isIOTimeout(err error) bool {
	var ioe *ioError
	return errors.As(err, &ioe) && isTimeout(ioe.err)
}

// pairBytes is first's request followed by second's, built once per pair
// (requests are immutable) so a pair goes out in one write whatever the
// connection's type.
func (c *httpChecker) pairBytes(first, second *Request) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pair.first != first || c.pair.second != second {
		c.pair.first, c.pair.second = first, second
		c.pair.raw = append(append(make([]byte, 0, len(first.raw)+len(second.raw)), first.raw...), second.raw...)
	}
	return c.pair.raw
}
