package probe

import (
	"errors"
	"net"
)

// The httpChecker's side of the Poller: a keep-alive connection that has
// served a response joins the poller; probes then go through Start.

// Start runs f on the polled connection, if there is one.
func (c *httpChecker) Start(f *Flight) bool { return c.startPolled(f, nil) }

// StartPair runs first and second on the polled connection, the second
// request pipelined behind the first, unless the server was seen to drop
// pipelined requests.
func (c *httpChecker) StartPair(first, second *Flight) bool {
	if c.noPipelining.Load() || second == nil || second.Req == nil || !second.Req.Polled() {
		return false
	}
	return c.startPolled(first, second)
}

func (c *httpChecker) startPolled(f, second *Flight) bool {
	if c.poller == nil || f.Req == nil || !f.Req.Polled() {
		return false
	}
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	if pc == nil {
		return false
	}
	f.checker = c
	n := uint64(1)
	if second != nil {
		second.checker = c
		n = 2
	}
	if !c.poller.start(pc, f, second) {
		return false
	}
	c.stats.probes.Add(n)
	c.stats.reused.Add(n)
	if second != nil {
		c.stats.pipelined.Add(1)
	}
	return true
}

// stopPipelining makes the checker send one request at a time from now on:
// a request pipelined behind an answered one got no answer, so the server
// most likely reads one request per connection read and drops the rest.
func (c *httpChecker) stopPipelining(log interface{ Warn(string, ...any) }) {
	if !c.noPipelining.Swap(true) {
		log.Warn("probe target does not answer pipelined requests; its probes go one at a time from now on", "address", c.hostport)
	}
}

// adopt hands conn, which just served a keep-alive response, to the
// poller. Plain HTTP only, and not a connection whose answers came in
// pieces (those stay on the blocking path until they close).
func (c *httpChecker) adopt(conn net.Conn) {
	if c.poller == nil || c.tls != nil {
		return
	}
	c.mu.Lock()
	skip := conn == c.piecemeal || c.conn != conn || c.closed
	c.mu.Unlock()
	if skip {
		return
	}
	fd, err := dupConn(conn)
	if err != nil {
		return
	}
	pc := c.poller.attach(c, fd) // owns fd from here
	if pc == nil {
		return
	}
	c.mu.Lock()
	ok := !c.closed && c.conn == conn
	if ok {
		c.conn, c.pc = nil, pc
	}
	c.mu.Unlock()
	if !ok {
		c.poller.detach(pc)
		return
	}
	_ = conn.Close() // the duplicate keeps the connection open
}

// polledGone forgets pc, which the poller closed.
func (c *httpChecker) polledGone(pc *polledConn) {
	c.mu.Lock()
	if c.pc == pc {
		c.pc = nil
	}
	c.mu.Unlock()
}

// polledBecame makes conn, pc turned back into a blocking connection, the
// checker's connection.
func (c *httpChecker) polledBecame(pc *polledConn, conn net.Conn) {
	c.mu.Lock()
	if c.pc == pc {
		c.pc = nil
		if !c.closed {
			c.conn, c.piecemeal = conn, conn
		}
	}
	c.mu.Unlock()
}

// finishOn reads the rest of f's response from conn, a polled connection
// turned blocking, after the bytes already read.
func (c *httpChecker) finishOn(conn net.Conn, f *Flight, read []byte, s *Scratch) {
	budget := f.Deadline.Sub(f.start)
	fail := func(err error) {
		c.drop(conn)
		var ioe *ioError
		if errors.As(err, &ioe) {
			err = netErr(ioe.phase, budget, ioe.err)
		}
		f.Resp.Err = err
		c.stats.failures.Add(1)
	}
	if err := conn.SetDeadline(f.Deadline); err != nil {
		fail(netErr("read response", budget, err))
		return
	}
	var rd reader
	rd.reset(conn, s.Buf, f.Req.maxBody)
	rd.prefill(read)
	keep, err := c.readResponse(&rd, f.Req, &f.Resp)
	keep = keep && rd.unread() == 0 // see roundTrip
	s.Buf = rd.buf[:0]
	if err != nil {
		fail(err)
		return
	}
	c.mu.Lock()
	current := c.conn == conn
	c.mu.Unlock()
	if !keep || !current {
		c.drop(conn)
	}
}
