//go:build linux

package fleet

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/internal/inbox"
	"github.com/vigilhq/vigil/internal/rawsys"
)

// On Linux one goroutine serves every HTTP connection of the fleet from an
// epoll set, in rounds: it answers every connection that has bytes ready,
// then pauses batchWindow so the next round finds many ready at once. A
// fleet probed 20,000 times a second thus wakes up about a thousand times a
// second instead of once per probe, which is most of the CPU a probe costs
// (each wake-up is a thread switch, and Go's scheduler wakes more threads).
// A probe waits at most batchWindow longer for its answer.
const (
	batchWindow = time.Millisecond
	pollEvents  = 512         // events taken per epoll_wait
	sweepEvery  = time.Second // how often idle and stuck connections are looked for
)

// poller owns the fleet's HTTP connections: one goroutine, their single
// owner. Other goroutines reach it only through its inbox.
type poller struct {
	f      *Fleet
	ep     *rawsys.Epoll
	in     *inbox.Inbox[pollMsg]
	conns  map[int32]*pconn // by descriptor
	events []syscall.EpollEvent
	now    time.Time // of the current round
}

// pollMsg is one request to the poller.
type pollMsg struct {
	add    *pconn // serve this new connection
	resume *pconn // its slow delay is over
}

// pconn is a connection the poller serves: its own duplicate descriptor
// (the net.Conn it came from is closed) and its protocol session.
type pconn struct {
	session
	fd           int
	lastRead     time.Time // of the round that last read from it
	pendingSince time.Time // when the request now partly read began (zero: none)
	lingerUntil  time.Time // non-zero: half-closed after a closing answer
	suspended    bool      // waiting out a slow delay, out of the epoll set
	sent         int       // bytes of out written while the socket blocked writes
	after        afterFlush
	closed       bool // guarded by the instance's mu
}

// kill shuts the socket down both ways; the poller sees it and closes the
// descriptor. Called with the instance's mu held, so the descriptor is
// still open (the poller closes it under the same lock).
func (pc *pconn) kill() {
	_ = syscall.Shutdown(pc.fd, syscall.SHUT_RDWR) // fails only when the peer already went: the poller closes it either way
}

// startConns creates the fleet's poller.
func (f *Fleet) startConns() error {
	ep, err := rawsys.OpenEpoll()
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	p := &poller{f: f, ep: ep, in: inbox.New[pollMsg](ep.Wake), conns: map[int32]*pconn{}, events: make([]syscall.EpollEvent, pollEvents)}
	f.poll = p
	f.wg.Add(1)
	go p.run()
	return nil
}

// stopConns makes the poller close every connection and end; Close waits
// for it. Called after every instance is down.
func (f *Fleet) stopConns() {
	if f.poll != nil {
		f.poll.in.Close()
	}
}

// adopt hands an accepted connection to the poller.
func (in *instance) adopt(ln *trackedListener, c net.Conn) {
	fd, err := rawsys.DupConn(c)
	_ = c.Close() // fd is a duplicate: closing this one loses nothing
	if err != nil {
		in.f.log.Warn("fleet: take over connection", "id", in.id, "err", err)
		return
	}
	pc := &pconn{session: newSession(in), fd: fd}
	if !in.register(ln, pc) {
		_ = syscall.Close(fd) // the instance went down: dropping the connection is the point
		return
	}
	if !in.f.poll.in.Post(pollMsg{add: pc}) { // fleet closing
		in.mu.Lock()
		delete(in.conns, pc)
		pc.closed = true
		_ = syscall.Close(fd) // likewise, the fleet is closing
		in.mu.Unlock()
	}
}

// run is the poller's goroutine. Its reads, writes and non-blocking
// epoll_waits are raw system calls: they never block, and skipping the
// scheduler's system call bookkeeping keeps its monitor thread asleep
// instead of waking it on every call. Only a wait (nothing was ready)
// parks it, in Go's poller.
func (p *poller) run() {
	defer p.f.wg.Done()
	defer p.ep.Close()
	lastSweep := time.Now()
	for {
		n, err := p.ep.WaitNow(p.events)
		if n == 0 && err == nil && p.in.Sleep() {
			n, _, err = p.ep.Wait(p.events, time.Now().Add(sweepEvery))
			p.in.Awake()
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			p.f.log.Error("fleet: epoll_wait; HTTP instances stop answering", "err", err)
			p.in.Close()
			msgs, _ := p.in.Take()
			p.closeAll(msgs)
			return
		}
		p.now = time.Now()
		for i := range p.events[:max(n, 0)] {
			ev := &p.events[i]
			if p.ep.IsWake(ev) {
				continue
			}
			pc := p.conns[ev.Fd]
			switch {
			case pc == nil:
			case pc.sent < len(pc.out) || pc.after != afterNone: // blocked writing
				p.writable(pc)
			default:
				p.readable(pc)
			}
		}
		msgs, closed := p.in.Take()
		if closed {
			p.closeAll(msgs)
			return
		}
		p.handle(msgs)
		if p.now.Sub(lastSweep) >= sweepEvery {
			p.sweep()
			lastSweep = p.now
		}
		if n > 0 && n < len(p.events) {
			time.Sleep(batchWindow)
		}
	}
}

// handle acts on the posted messages.
func (p *poller) handle(msgs []pollMsg) {
	for _, m := range msgs {
		switch {
		case m.add != nil:
			p.add(m.add)
		case m.resume != nil:
			p.resume(m.resume)
		}
	}
}

func (p *poller) add(pc *pconn) {
	p.conns[int32(pc.fd)] = pc
	pc.lastRead = p.now
	if err := p.watch(pc); err != nil {
		p.f.log.Warn("fleet: watch connection", "id", pc.in.id, "err", err)
		p.closeConn(pc)
	}
}

func (p *poller) watch(pc *pconn) error { return p.ep.Add(pc.fd, syscall.EPOLLIN) }

// readable reads what pc has (once: the epoll set is level-triggered) and
// answers it.
func (p *poller) readable(pc *pconn) {
	pc.room()
	n, err := readFD(pc.fd, pc.buf[pc.w:])
	if errors.Is(err, syscall.EAGAIN) {
		return
	}
	if n <= 0 { // end of stream, reset, or shut down by kill
		p.closeConn(pc)
		return
	}
	pc.lastRead = p.now
	if !pc.lingerUntil.IsZero() { // after a closing answer: discard
		return
	}
	pc.w += n
	p.process(pc)
}

// process answers the complete requests in pc's buffer.
func (p *poller) process(pc *pconn) {
	closing, err := pc.answerBuffered()
	if err == errAbort {
		p.closeConn(pc)
		return
	}
	next := afterNone
	switch {
	case err == errSlow:
		next = afterSlow
	case err != nil:
		p.closeConn(pc)
		return
	case closing:
		next = afterClose
	}
	if len(pc.out) > 0 {
		switch p.flush(pc) {
		case flushFailed:
			p.closeConn(pc)
			return
		case flushBlocked: // continue once the client has read enough
			pc.after = next
			if err := p.ep.Modify(pc.fd, syscall.EPOLLOUT); err != nil {
				p.closeConn(pc)
			}
			return
		}
	}
	p.then(pc, next)
}

// then does what follows pc's written answers.
func (p *poller) then(pc *pconn, next afterFlush) {
	switch next {
	case afterSlow:
		p.suspend(pc)
	case afterClose:
		_ = syscall.Shutdown(pc.fd, syscall.SHUT_WR) // fails only when the peer already went; the linger ends it either way
		pc.lingerUntil = p.now.Add(lingerTime)
		pc.r, pc.w, pc.skip = 0, 0, 0
	default:
		if !pc.pending() {
			pc.pendingSince = time.Time{}
		} else if pc.pendingSince.IsZero() {
			pc.pendingSince = p.now
		}
	}
}

// writable writes more of a blocked pc's answers; once all are written it
// reads from pc again.
func (p *poller) writable(pc *pconn) {
	switch p.flush(pc) {
	case flushFailed:
		p.closeConn(pc)
	case flushDone:
		if err := p.ep.Modify(pc.fd, syscall.EPOLLIN); err != nil {
			p.closeConn(pc)
			return
		}
		next := pc.after
		pc.after = afterNone
		if next == afterNone {
			p.process(pc) // requests that arrived with the blocked ones
			return
		}
		p.then(pc, next)
	}
}

// afterFlush is what to do once a connection's answers are written.
type afterFlush int

const (
	afterNone  afterFlush = iota
	afterSlow             // wait out the slow delay, then answer the next request
	afterClose            // half-close and linger
)

type flushResult int

const (
	flushDone flushResult = iota
	flushBlocked
	flushFailed
)

// flush writes pc's answers; what the socket does not take now stays in
// pc.out from pc.sent on.
func (p *poller) flush(pc *pconn) flushResult {
	for pc.sent < len(pc.out) {
		n, err := rawsys.Write(pc.fd, pc.out[pc.sent:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return flushBlocked
		case err != nil || n <= 0:
			return flushFailed
		}
		pc.sent += n
	}
	pc.out, pc.sent = pc.out[:0], 0
	return flushDone
}

// suspend takes pc out of the epoll set for the slow delay.
func (p *poller) suspend(pc *pconn) {
	p.ep.Remove(pc.fd)
	pc.suspended = true
	time.AfterFunc(p.f.spec.SlowDelay, func() { p.in.Post(pollMsg{resume: pc}) })
}

// resume answers the request pc was suspended for, and serves it again.
func (p *poller) resume(pc *pconn) {
	if pc.closed || !pc.suspended {
		return
	}
	pc.suspended = false
	if err := p.watch(pc); err != nil {
		p.closeConn(pc)
		return
	}
	pc.slowWaited = true
	p.process(pc)
}

// sweep closes connections idle for idleTimeout, with a request unfinished
// for headTimeout, or lingering past their time.
func (p *poller) sweep() {
	for _, pc := range p.conns {
		switch {
		case pc.suspended, len(pc.out) > 0: // writes stall only while the client is alive
		case !pc.lingerUntil.IsZero():
			if p.now.After(pc.lingerUntil) {
				p.closeConn(pc)
			}
		case pc.pending():
			if p.now.Sub(pc.pendingSince) > headTimeout {
				p.closeConn(pc)
			}
		case p.now.Sub(pc.lastRead) > idleTimeout:
			p.closeConn(pc)
		}
	}
}

// closeConn closes pc's descriptor (which also leaves the epoll set) under
// its instance's lock, so kill never shuts down a reused descriptor.
func (p *poller) closeConn(pc *pconn) {
	in := pc.in
	in.mu.Lock()
	if !pc.closed {
		pc.closed = true
		delete(in.conns, pc)
		_ = syscall.Close(pc.fd) // closing the connection is the point
		delete(p.conns, int32(pc.fd))
	}
	in.mu.Unlock()
}

// closeAll closes every connection, those posted but never added among
// them (msgs: what the closed inbox still held).
func (p *poller) closeAll(msgs []pollMsg) {
	for _, m := range msgs {
		if m.add != nil {
			p.conns[int32(m.add.fd)] = m.add
		}
	}
	for _, pc := range p.conns {
		p.closeConn(pc)
	}
}

func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := rawsys.Read(fd, b)
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}
