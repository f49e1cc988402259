//go:build !linux

package probe

import (
	"errors"
	"log/slog"
	"net"
)

// Poller is Linux only (epoll); elsewhere it adopts no connection and
// every probe takes the blocking path.
type Poller struct{}

// polledConn is never created outside Linux.
type polledConn struct{ flight *Flight }

// NewPoller returns a Poller that adopts nothing.
func NewPoller(*slog.Logger, func() bool) *Poller { return &Poller{} }

// Close does nothing.
func (p *Poller) Close() {}

// Hold does nothing.
func (p *Poller) Hold() {}

// Release does nothing.
func (p *Poller) Release() {}

func (p *Poller) attach(*httpChecker, int) *polledConn     { return nil }
func (p *Poller) start(*polledConn, *Flight, *Flight) bool { return false }
func (p *Poller) detach(*polledConn)                       {}
func dupConn(net.Conn) (int, error)                        { return -1, errors.New("no poller on this platform") }
