package probe

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// httpChecker probes one address over HTTP/1.1 (or HTTPS) on one
// persistent connection. It holds no read buffer between probes.
type httpChecker struct {
	hostport    string
	tls         *tls.Config // nil: plain TCP
	dialTimeout time.Duration

	poller *Poller // nil: every probe blocks a goroutine
	log    *slog.Logger
	keeper keeper // the checker's slots in the fd budget

	mu        sync.Mutex  // guards conn, pc, piecemeal and closed (Close may race a Check)
	conn      net.Conn    // non-nil only after it served a full response
	pc        *polledConn // the connection when the poller has it (conn is nil then)
	piecemeal net.Conn    // a connection whose answer came in pieces: it stays blocking
	closed    bool

	noPipelining atomic.Bool // the server dropped a pipelined request
	pair         struct {    // the last pair's requests in one buffer (guarded by mu)
		first, second *Request
		raw           []byte
	}

	// Last values handed out, so unchanged headers do not allocate.
	lastContentType strCache
	lastLocation    strCache
	names           nameCache

	stats counters
}

func newHTTPChecker(hostport string, tlsCfg *tls.Config, opts CheckerOptions) *httpChecker {
	if tlsCfg != nil {
		tlsCfg.NextProtos = []string{"http/1.1"}
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &httpChecker{hostport: hostport, tls: tlsCfg, dialTimeout: opts.DialTimeout, poller: opts.Poller, log: log,
		keeper: keeper{budget: opts.Budget}}
}

// Stats reports connection counters.
func (c *httpChecker) Stats() Stats {
	st := c.stats.snapshot()
	st.NoPipelining = c.noPipelining.Load()
	return st
}

// Close closes the connection and gives its fd budget slot back; a Check
// in flight fails, later ones too.
func (c *httpChecker) Close() error {
	c.mu.Lock()
	conn, pc := c.conn, c.pc
	c.conn, c.pc, c.piecemeal, c.closed = nil, nil, nil, true
	c.mu.Unlock()
	c.keeper.release()
	if pc != nil {
		c.poller.detach(pc)
	}
	if conn != nil {
		return conn.Close()
	}
	return nil
}

// Check sends req and reads the response. A reused connection that turns
// out dead before any response byte (the server's idle timeout closed it)
// is redialed once within the same deadline, like net/http does for
// idempotent requests.
func (c *httpChecker) Check(req *Request, deadline time.Time, s *Scratch, resp *Response) {
	start := time.Now()
	c.stats.probes.Add(1)
	budget := deadline.Sub(start)
	switch {
	case req == nil || req.kind != upstreams.KindHTTP:
		resp.Err = fmt.Errorf("http checker for %s: got a %s request", c.hostport, kindOf(req))
	case budget <= 0:
		resp.Err = timeoutErr(0, "before the probe started", nil)
	default:
		if s == nil {
			s = &Scratch{}
		}
		for attempt := 0; ; attempt++ {
			conn, reused, short, err := c.connection(deadline, budget)
			if err != nil {
				resp.Err = err
				resp.Latency = time.Since(start)
				break
			}
			if reused {
				c.stats.reused.Add(1)
			}
			stale := c.roundTrip(conn, short, req, deadline, budget, s, resp)
			if !stale || !reused || attempt > 0 {
				break
			}
			c.stats.staleRetries.Add(1)
			resp.Err = nil
		}
	}
	c.stats.ended(resp.Err)
}

func kindOf(req *Request) string {
	if req == nil {
		return "nil"
	}
	return string(req.kind)
}

// roundTrip writes the request and reads the response on conn. It reports
// stale when the connection failed before any response byte arrived (and
// not by timeout); resp.Err is set either way on failure. A short-lived
// connection is closed after the answer.
func (c *httpChecker) roundTrip(conn net.Conn, short bool, req *Request, deadline time.Time, budget time.Duration, s *Scratch, resp *Response) (stale bool) {
	if err := conn.SetDeadline(deadline); err != nil {
		c.drop(conn)
		resp.Err = netErr("write request", budget, err)
		return !isTimeout(err)
	}
	t0 := time.Now()
	if _, err := conn.Write(req.raw); err != nil {
		c.drop(conn)
		resp.Err = netErr("write request", budget, err)
		resp.Latency = time.Since(t0)
		return !isTimeout(err)
	}
	var rd reader
	rd.reset(conn, s.Buf, req.maxBody)
	keep, err := c.readResponse(&rd, req, resp)
	// Bytes past the answer cannot be kept (buffers are not held between
	// probes), and a server sending them unasked is confused anyway.
	keep = keep && rd.unread() == 0
	s.Buf = rd.buf[:0]
	resp.Latency = time.Since(t0)
	if err != nil {
		c.drop(conn)
		var ioe *ioError
		if errors.As(err, &ioe) {
			stale = rd.total == 0 && !isTimeout(ioe.err)
			err = netErr(ioe.phase, budget, ioe.err)
			if c.tls != nil {
				err = withTLSHint(err)
			}
		}
		resp.Err = err
		return stale
	}
	if !keep || short {
		c.drop(conn)
	} else {
		c.adopt(conn)
	}
	return false
}

// connection returns the open connection, or dials a new one: kept, or
// short-lived (closed after this probe) when the fd budget has no kept
// slot for the checker.
func (c *httpChecker) connection(deadline time.Time, budget time.Duration) (conn net.Conn, reused, short bool, err error) {
	c.mu.Lock()
	conn, closed, pc := c.conn, c.closed, c.pc
	c.pc = nil
	c.mu.Unlock()
	if pc != nil { // a blocking probe on a polled connection: take a fresh one
		c.poller.detach(pc)
	}
	if closed {
		return nil, false, false, errClosed
	}
	if conn != nil {
		return conn, true, false, nil
	}
	if short, err = c.keeper.hold(); err != nil {
		return nil, false, false, err
	}
	conn, err = c.dial(deadline, budget, short)
	if err != nil {
		return nil, false, false, err
	}
	c.mu.Lock()
	closed = c.closed
	if !closed {
		c.conn = conn
	}
	c.mu.Unlock()
	if closed {
		_ = conn.Close() // the checker closed meanwhile: nothing to lose
		return nil, false, false, errClosed
	}
	return conn, false, short, nil
}

// dial connects, with TLS when the checker has it. A short-lived
// connection holds the short-lived slot hold took for it: its Close, or a
// failed dial, gives it back.
func (c *httpChecker) dial(deadline time.Time, budget time.Duration, short bool) (net.Conn, error) {
	c.stats.dials.Add(1)
	if c.dialTimeout > 0 && c.dialTimeout < budget {
		budget = c.dialTimeout
		deadline = time.Now().Add(c.dialTimeout)
	}
	raw, err := dialTCP(c.hostport, deadline, 0)
	if err != nil {
		if short {
			c.keeper.budget.Unshort()
		}
		return nil, netErr("connect", budget, err)
	}
	if short {
		raw = newShortConn(raw, c.keeper.budget)
		c.stats.shortLived.Add(1)
	}
	if c.tls == nil {
		return raw, nil
	}
	tc := tls.Client(raw, c.tls)
	if err := raw.SetDeadline(deadline); err != nil {
		_ = raw.Close() // the handshake failed: its error is the one reported
		return nil, netErr("tls handshake", budget, err)
	}
	if err := tc.Handshake(); err != nil {
		_ = raw.Close() // the handshake failed: its error is the one reported
		return nil, withTLSHint(netErr("tls handshake", budget, err))
	}
	return tc, nil
}

// drop closes conn and forgets it if it is still the current one.
func (c *httpChecker) drop(conn net.Conn) {
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	if c.piecemeal == conn {
		c.piecemeal = nil
	}
	c.mu.Unlock()
	_ = conn.Close() // a dropped probe connection: nothing to lose
}
