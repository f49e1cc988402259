//go:build !linux

package fleet

import (
	"context"
	"net"
	"time"
)

// Outside Linux every connection is served by its own goroutine.

// idleRenew: the idle deadline is renewed lazily (when less than this is
// left), so a busy keep-alive connection does not reset a timer on every request.
const idleRenew = 4 * time.Minute

func (f *Fleet) startConns() error { return nil }

func (f *Fleet) stopConns() {}

// trackedConn is a server-side connection served by a goroutine.
type trackedConn struct {
	net.Conn
}

func (c *trackedConn) kill() { c.Conn.Close() }

// adopt serves an accepted connection in its own goroutine.
func (in *instance) adopt(ln *trackedListener, c net.Conn) {
	tc := &trackedConn{Conn: c}
	if !in.register(ln, tc) {
		c.Close()
		return
	}
	in.f.wg.Add(1)
	go in.serveConn(tc)
}

// unregister removes c from the instance's connections.
func (in *instance) unregister(c liveConn) {
	in.mu.Lock()
	delete(in.conns, c)
	in.mu.Unlock()
}

// goConn is the goroutine's state of a connection.
type goConn struct {
	session
	c           net.Conn
	deadline    time.Time // read deadline in force (zero: none)
	headPending bool      // deadline is the head timeout, not the idle one
}

// serveConn serves tc until either side closes it.
func (in *instance) serveConn(tc *trackedConn) {
	defer in.f.wg.Done()
	c := &goConn{session: newSession(in), c: tc.Conn}
	closing, err := c.loop()
	if closing && err == nil {
		c.linger()
	}
	in.unregister(tc)
	tc.Conn.Close()
}

// loop reads and answers until the connection ends. closing means the last
// answer asked for the connection to close (and was written).
func (c *goConn) loop() (closing bool, err error) {
	for {
		closeNow, aerr := c.answerBuffered()
		if len(c.out) > 0 && aerr != errAbort {
			if err := c.flush(); err != nil {
				return false, err
			}
		}
		if aerr == errSlow {
			if err := c.in.slowWait(context.Background()); err != nil {
				return false, errAbort // fleet closing
			}
			c.slowWaited = true
			continue
		}
		if closeNow || aerr != nil {
			return closeNow, aerr
		}
		if err := c.fill(); err != nil {
			return false, err
		}
	}
}

func (c *goConn) flush() error {
	_, err := c.c.Write(c.out)
	c.out = c.out[:0]
	return err
}

// fill reads more bytes after setting the read deadline that applies: the
// idle timeout between requests, the head timeout in the middle of one.
func (c *goConn) fill() error {
	c.room()
	now := time.Now()
	switch pending := c.pending(); {
	case pending && !c.headPending:
		c.setDeadline(now.Add(headTimeout), true)
	case !pending && (c.headPending || c.deadline.Sub(now) < idleRenew):
		c.setDeadline(now.Add(idleTimeout), false)
	}
	n, err := c.c.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

func (c *goConn) setDeadline(t time.Time, head bool) {
	c.c.SetReadDeadline(t)
	c.deadline, c.headPending = t, head
}

// linger half-closes the connection after a closing answer and reads until
// the client closes (or lingerTime passes), so unread request bytes do not
// make the kernel reset the answer away.
func (c *goConn) linger() {
	tcp, ok := c.c.(*net.TCPConn)
	if !ok || tcp.CloseWrite() != nil {
		return
	}
	tcp.SetReadDeadline(time.Now().Add(lingerTime))
	for {
		if _, err := tcp.Read(c.buf); err != nil {
			return
		}
	}
}

// poller is Linux's connection server; elsewhere there is none.
type poller struct{}
