package probe

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// tcpChecker probes by connecting and closing; it keeps no connection,
// so each probe takes a short-lived slot of the fd budget.
type tcpChecker struct {
	hostport    string
	dialTimeout time.Duration
	budget      *fdbudget.Budget
	closed      atomic.Bool
	stats       counters
}

func newTCPChecker(hostport string, opts CheckerOptions) *tcpChecker {
	return &tcpChecker{hostport: hostport, dialTimeout: opts.DialTimeout, budget: opts.Budget}
}

// Stats reports probe counters.
func (c *tcpChecker) Stats() Stats { return c.stats.snapshot() }

// Close marks the checker closed; there is no connection to release.
func (c *tcpChecker) Close() error {
	c.closed.Store(true)
	return nil
}

// Check connects within deadline and closes at once (with a reset, leaving
// no TIME_WAIT socket; see shortConn). StatusCode stays 0; Latency is the
// connect time.
func (c *tcpChecker) Check(req *Request, deadline time.Time, _ *Scratch, resp *Response) {
	start := time.Now()
	c.stats.probes.Add(1)
	budget := deadline.Sub(start)
	switch {
	case req == nil || req.kind != upstreams.KindTCP:
		resp.Err = fmt.Errorf("tcp checker for %s: got a %s request", c.hostport, kindOf(req))
	case c.closed.Load():
		resp.Err = errClosed
	case budget <= 0:
		resp.Err = timeoutErr(0, "before the probe started", nil)
	case !c.budget.Short():
		resp.Err = errNoSlot
	default:
		c.stats.dials.Add(1)
		if c.dialTimeout > 0 && c.dialTimeout < budget {
			budget = c.dialTimeout
		}
		conn, err := dialTCP(c.hostport, deadline, c.dialTimeout)
		resp.Latency = time.Since(start)
		if err != nil {
			c.budget.Unshort()
			resp.Err = netErr("connect", budget, err)
		} else {
			c.stats.shortLived.Add(1)
			_ = newShortConn(conn, c.budget).Close() // the connect was the probe: nothing to lose
		}
	}
	c.stats.ended(resp.Err)
}
