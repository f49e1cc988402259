package fleet

import (
	"net"
	"sync"
)

// trackedListener is an instance's listener. Every accepted connection is
// registered with the instance so that going dead can close it.
type trackedListener struct {
	net.Listener
	inst      *instance
	closeOnce sync.Once
	closeErr  error
}

// Accept registers the connection with its instance, or refuses it when the
// listener has meanwhile been retired (the instance went dead).
func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, inst: l.inst}
	in := l.inst
	in.mu.Lock()
	if in.ln != l {
		in.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	in.conns[tc] = struct{}{}
	in.mu.Unlock()
	return tc, nil
}

// Close is idempotent: both the instance and http.Server close it.
func (l *trackedListener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// trackedConn is a server-side connection of one instance.
type trackedConn struct {
	net.Conn
	inst      *instance
	closeOnce sync.Once
}

// Close unregisters the connection and closes it.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.inst.mu.Lock()
		delete(c.inst.conns, c)
		c.inst.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close the connection as it does for TCP.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
