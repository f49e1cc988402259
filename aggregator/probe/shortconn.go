package probe

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/vigilhq/vigil/internal/fdbudget"
)

// keeper is a checker's hold on the fd budget: one kept slot, taken when
// the checker first dials and held until it is closed, or, while no kept
// slot is free, a short-lived slot for each connection it opens.
type keeper struct {
	budget *fdbudget.Budget // nil: no bound, every connection is kept

	mu   sync.Mutex   // serializes changes of mode
	mode atomic.Int32 // keepNone, keepKept, keepShort or keepClosed; read without mu
}

// A keeper's modes.
const (
	keepNone   = iota // has not dialed yet
	keepKept          // holds a kept slot
	keepShort         // its last connection held a short-lived slot
	keepClosed        // released: the checker is closed
)

// hold decides how the connection about to be opened is held: under the
// checker's kept slot (short false), or under a short-lived slot taken
// for it (short true: the connection must be closed after its probe, and
// its Close gives the slot back; see shortConn). It fails with a
// LocalFault (SkipFDBudget) when no slot of either kind is free. It is
// only asked before a dial, never on a kept connection's probe, and a
// checker holding a kept slot gets its answer without a lock.
func (k *keeper) hold() (short bool, err error) {
	if k.budget == nil || k.mode.Load() == keepKept {
		return false, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.mode.Load() == keepClosed:
		return false, errClosed
	case k.mode.Load() == keepKept:
		return false, nil
	case k.budget.Keep():
		k.mode.Store(keepKept)
		return false, nil
	case k.budget.Short():
		k.mode.Store(keepShort)
		return true, nil
	}
	return false, errNoSlot
}

// shortLived reports whether the last connection held a short-lived slot.
func (k *keeper) shortLived() bool { return k.mode.Load() == keepShort }

// release gives the kept slot back; the checker is closed.
func (k *keeper) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mode.Load() == keepKept {
		k.budget.Unkeep()
	}
	k.mode.Store(keepClosed)
}

// shortConn is a connection opened for one probe (or one instance's pair
// of probes) under a short-lived slot. Close resets it (SO_LINGER 0)
// rather than closing it gracefully, as load balancers' health checkers
// do: vigil, the side that closes, then leaves no TIME_WAIT socket, which
// at thousands of short-lived connections a second would otherwise pile
// up by the hundred thousand and hold local ports. The answer has been
// read by then, so the reset loses nothing. Close gives the slot back.
type shortConn struct {
	net.Conn
	budget *fdbudget.Budget
	closed atomic.Bool
}

func newShortConn(c net.Conn, b *fdbudget.Budget) *shortConn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // the kernel applies it at close; best effort (else a TIME_WAIT socket)
	}
	return &shortConn{Conn: c, budget: b}
}

// Close closes the connection once and gives its slot back.
func (s *shortConn) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	err := s.Conn.Close()
	s.budget.Unshort()
	return err
}
