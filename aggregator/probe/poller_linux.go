//go:build linux

package probe

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/internal/inbox"
	"github.com/vigilhq/vigil/internal/rawsys"
)

// Poller runs plain-HTTP probes on established keep-alive connections from
// one epoll set and one goroutine, the loop, which owns every polled
// connection alone: it writes each probe's request, reads every answer
// that arrived in a round, parses it and calls Done. Other goroutines
// reach it only through its inbox (internal/inbox, as the simulated
// fleet's poller): Start posts the probe and returns, and a connection
// joins or leaves by a message. So a descriptor is only ever used, and
// closed, by the loop, and no goroutine waits for another to let go of
// one. No goroutine waits on a connection, no per-probe deadline timer is
// armed, and one wakeup serves every answer that arrived meanwhile: that
// is most of what a probe costs on Go's blocking path. Hold and Release
// let a caller start a batch of probes for one wakeup of the loop.
//
// Connections join after a first probe went the blocking way (that probe
// dialed), and leave on any error, a timeout, or an answer that did not
// arrive in one read. A probe that must then finish the blocking way (its
// answer came in pieces, its connection closed before answering, or was
// gone by the time the loop took the probe) is finished on a goroutine of
// the poller's own, which hands it back to the loop: Done is always
// called on the loop's goroutine.
type Poller struct {
	log        *slog.Logger
	afterRound func() bool // after the Done calls of a round; true: it woke other goroutines
	in         *inbox.Inbox[pollMsg]
	loopDone   chan struct{}

	mu      sync.Mutex // guards starting the loop: started, failed and the loop's fields until it runs
	started bool
	failed  bool // the epoll set could not be opened: nothing is polled

	// The loop's own.
	ep       *rawsys.Epoll
	conns    map[int32]*polledConn // by descriptor
	deadline flightHeap
	inFlight int // flights taken whose Done has not returned yet
	events   []syscall.EpollEvent
	raw      []byte
	scratch  Scratch
	src      bytesSource
}

// pollMsg is one request to the loop.
type pollMsg struct {
	kind      msgKind
	pc        *polledConn
	f, second *Flight
	at        time.Time // when a start was posted
}

type msgKind uint8

const (
	msgAttach msgKind = iota // pc joins
	msgDetach                // pc leaves (its checker closed, or a probe went the blocking way)
	msgStart                 // send f (and second, pipelined behind it) on pc
	msgLanded                // f (and second) finished the blocking way: call Done
)

// polledConn is one connection the poller reads: its own descriptor (the
// net.Conn it came from is closed). The loop's own; a checker holds it
// only to name it in messages.
type polledConn struct {
	checker *httpChecker
	fd      int     // -1 once closed
	flight  *Flight // the probe whose answer comes next
	second  *Flight // a probe pipelined behind flight, or nil
}

const (
	pollEvents = 256
	pollRawBuf = 16 << 10               // one read; a larger answer is finished the blocking way
	pollIdle   = 100 * time.Millisecond // longest wait with nothing in flight
	busyYield  = time.Millisecond       // the loop yields after running this long without a wait
)

// NewPoller returns a Poller. afterRound (may be nil) runs on the loop
// after each round of Done calls, so that work they leave, such as a store
// commit, is done once for all of them; it reports whether that work woke
// other goroutines (the loop then yields to them). The Poller holds no
// descriptor until a connection joins; Close releases them.
func NewPoller(log *slog.Logger, afterRound func() bool) *Poller {
	if log == nil {
		log = slog.Default()
	}
	if afterRound == nil {
		afterRound = func() bool { return false }
	}
	p := &Poller{log: log, afterRound: afterRound, loopDone: make(chan struct{}), conns: make(map[int32]*polledConn)}
	p.in = inbox.New[pollMsg](func() { p.ep.Wake() }) // only a sleeping loop is woken: ep is open
	return p
}

// attach makes fd (non-blocking, owned by the poller from now on) a polled
// connection of c. It returns nil, having closed fd, when the poller is
// closed or cannot run.
func (p *Poller) attach(c *httpChecker, fd int) *polledConn {
	pc := &polledConn{checker: c, fd: fd}
	if !p.run() || !p.in.Post(pollMsg{kind: msgAttach, pc: pc}) {
		_ = syscall.Close(fd) // a probe socket given up: nothing to lose
		return nil
	}
	return pc
}

// run starts the loop unless it runs; false: the poller is closed, or its
// epoll set could not be opened.
func (p *Poller) run() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.started:
		return true
	case p.failed || p.in.Closed():
		return false
	}
	ep, err := rawsys.OpenEpoll()
	if err != nil {
		p.log.Warn("probe poller unavailable; probes stay on the blocking path", "error", err)
		p.failed = true
		return false
	}
	p.ep = ep
	p.events = make([]syscall.EpollEvent, pollEvents)
	p.raw = make([]byte, pollRawBuf)
	p.started = true
	go p.loop()
	return true
}

// start posts f (and second, to go in the same write, pipelined behind
// it) for pc. It returns false, having done nothing, once the poller is
// closed; else Done follows for each.
func (p *Poller) start(pc *polledConn, f, second *Flight) bool {
	return p.in.Post(pollMsg{kind: msgStart, pc: pc, f: f, second: second, at: time.Now()})
}

// detach takes pc away: the loop closes it, and a probe on it finishes the
// blocking way. Called by the checker.
func (p *Poller) detach(pc *polledConn) { p.in.Post(pollMsg{kind: msgDetach, pc: pc}) }

// Hold defers waking the loop for probes started from now on until the
// matching Release, so that a batch of them costs it one wakeup.
func (p *Poller) Hold() { p.in.Hold() }

// Release ends a Hold: the loop wakes for what was started meanwhile.
func (p *Poller) Release() { p.in.Release() }

// Close waits for the probes in flight to finish (each within its
// deadline), then closes every polled connection and stops the loop.
// Start fails afterwards.
func (p *Poller) Close() {
	p.in.Close()
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if started {
		<-p.loopDone
	}
}

// loop is the poller's goroutine. Writes, reads and non-blocking
// epoll_waits are raw system calls; only a wait that blocks goes through
// Go's scheduler.
func (p *Poller) loop() {
	defer close(p.loopDone)
	rested := time.Now() // when the loop last waited or yielded
	for {
		msgs, closed := p.in.Take()
		finished := p.handle(msgs)
		if closed && p.inFlight == 0 {
			for _, pc := range p.conns {
				p.drop(pc)
			}
			p.ep.Close()
			return
		}
		n, parked, err := p.wait()
		if err != nil && !errors.Is(err, syscall.EINTR) {
			p.log.Error("probe poller: epoll_wait failed; failing its probes", "error", err)
			n = 0
		}
		for i := range p.events[:n] {
			ev := &p.events[i]
			if !p.ep.IsWake(ev) && p.readable(ev.Fd) {
				finished = true
			}
		}
		now := time.Now()
		if parked {
			rested = now
		}
		if (p.expire(now) || finished) && (p.afterRound() || now.Sub(rested) >= busyYield) {
			// While answers keep coming the loop never waits, and Go
			// would let it run out its time slice while the goroutines
			// its round or the network woke (the xDS publisher, gRPC
			// streams, the event stream) wait for a processor: let them
			// run now. A loop that waited a moment ago (it has just
			// written a batch, and read the answers that came meanwhile)
			// yields only if its commit woke someone: a yield costs a
			// thread's wakeup.
			runtime.Gosched()
			rested = time.Now()
		}
	}
}

// handle acts on the posted messages, in order; it reports whether it
// called Done.
func (p *Poller) handle(msgs []pollMsg) (finished bool) {
	var now time.Time
	for i := range msgs {
		m := &msgs[i]
		switch m.kind {
		case msgAttach:
			p.add(m.pc)
		case msgDetach:
			p.detached(m.pc)
		case msgStart:
			if now.IsZero() {
				now = time.Now()
			}
			p.send(m.pc, m.f, m.second, now, now.Sub(m.at))
		case msgLanded:
			p.done(m.f)
			if m.second != nil {
				p.done(m.second)
			}
			finished = true
		}
	}
	return finished
}

// wait takes the ready events, waiting for one (or a post, or the earliest
// deadline) when there are none and nothing is posted; parked reports
// that it waited.
func (p *Poller) wait() (n int, parked bool, err error) {
	now := time.Now()
	until := now.Add(pollIdle)
	if len(p.deadline) > 0 {
		until = p.deadline[0].Deadline
	}
	if !until.After(now) || !p.in.Sleep() {
		n, err = p.ep.WaitNow(p.events)
		return max(n, 0), false, err
	}
	n, parked, err = p.ep.Wait(p.events, until)
	p.in.Awake()
	return n, parked, err
}

// add puts pc in the epoll set.
func (p *Poller) add(pc *polledConn) {
	if err := p.ep.Add(pc.fd, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
		_ = syscall.Close(pc.fd) // a probe socket given up: nothing to lose
		pc.fd = -1
		pc.checker.polledGone(pc)
		return
	}
	p.conns[int32(pc.fd)] = pc
}

// detached closes pc; a probe on it goes again on a new connection (which
// a closed checker fails at once).
func (p *Poller) detached(pc *polledConn) {
	if pc.fd < 0 {
		return
	}
	f, second := pc.flight, pc.second
	p.unfly(f)
	p.unfly(second)
	p.drop(pc)
	if f != nil {
		p.handOff(f, second, nil, nil, nil)
	}
}

// send registers f (and second) on pc and writes their requests in one
// write. Their deadlines move by waited, how long they waited to be taken,
// so that a busy loop delays probes but does not time them out. A
// connection gone since the checker handed it out, or busy, or a write
// that does not go through whole (a dead keep-alive connection: reset,
// broken pipe; or a full socket buffer), sends them the blocking way on a
// new connection, as the blocking path retries a stale one.
func (p *Poller) send(pc *polledConn, f, second *Flight, now time.Time, waited time.Duration) {
	p.inFlight++
	f.Deadline = f.Deadline.Add(waited)
	if second != nil {
		p.inFlight++
		second.Deadline = second.Deadline.Add(waited)
	}
	if pc.fd < 0 || pc.flight != nil {
		p.handOff(f, second, nil, nil, nil)
		return
	}
	p.fly(pc, f, now)
	var n, size int
	var err error
	if second == nil {
		size = len(f.Req.raw)
		n, err = rawsys.Write(pc.fd, f.Req.raw)
	} else {
		p.fly(pc, second, now)
		iov := [2]syscall.Iovec{iovec(f.Req.raw), iovec(second.Req.raw)} // stays on the stack
		size = len(f.Req.raw) + len(second.Req.raw)
		n, err = rawsys.Writev(pc.fd, iov[:])
	}
	if err != nil || n != size {
		p.unfly(f)
		p.unfly(second)
		p.drop(pc)
		p.handOff(f, second, nil, nil, nil)
	}
}

// fly puts f in flight on pc, behind any flight already there.
func (p *Poller) fly(pc *polledConn, f *Flight, now time.Time) {
	if pc.flight == nil {
		pc.flight = f
	} else {
		pc.second = f
	}
	f.pc, f.start, f.afterAnswer = pc, now, false
	p.deadline.push(f)
}

// unfly takes f (nil: nothing) off its connection and the deadline heap; a
// flight pipelined behind it becomes the one whose answer comes next. f
// stays counted in flight until its Done.
func (p *Poller) unfly(f *Flight) {
	if f == nil || f.heapIdx < 0 || f.heapIdx >= len(p.deadline) || p.deadline[f.heapIdx] != f {
		return
	}
	p.deadline.remove(f.heapIdx)
	switch pc := f.pc; f {
	case pc.flight:
		pc.flight, pc.second = pc.second, nil
	case pc.second:
		pc.second = nil
	}
}

func iovec(b []byte) syscall.Iovec {
	v := syscall.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}

// drop closes pc: it leaves the epoll set and its checker. Flights on it
// are the caller's to finish.
func (p *Poller) drop(pc *polledConn) {
	if pc.fd < 0 {
		return
	}
	p.ep.Remove(pc.fd)
	delete(p.conns, int32(pc.fd))
	_ = syscall.Close(pc.fd) // a probe socket given up: nothing to lose
	pc.fd = -1
	pc.checker.polledGone(pc)
}

// done calls f's Done and counts it landed.
func (p *Poller) done(f *Flight) {
	f.Done(f)
	p.inFlight--
}

// readable reads what arrived on fd and finishes the flights it answers
// (two when a pipelined pair's answers came together); it reports whether
// it called Done.
func (p *Poller) readable(fd int32) bool {
	pc := p.conns[fd]
	if pc == nil {
		return false
	}
	n, err := rawsys.Read(int(fd), p.raw)
	if errors.Is(err, syscall.EAGAIN) {
		return false
	}
	f := pc.flight
	if f == nil { // the server closed an idle connection, or talks out of turn
		p.drop(pc)
		return false
	}
	if n <= 0 {
		// Closed before any answer byte: like the blocking path, try once
		// more on a new connection within the deadline.
		second := pc.second
		p.unfly(f)
		p.unfly(second)
		p.drop(pc)
		p.handOff(f, second, nil, nil, nil)
		return false
	}
	finished := false
	for data := p.raw[:n]; ; {
		rest, next, done := p.answer(pc, f, data)
		finished = finished || done
		if next == nil || len(rest) == 0 {
			return finished
		}
		f, data = next, rest
	}
}

// answer parses f's answer from data, what was read of it, and finishes
// f. It returns the bytes read past the answer and the flight pipelined
// behind f that they begin to answer (nil: none, or the connection is
// gone and that flight was handed off). done reports whether f's Done
// was called.
func (p *Poller) answer(pc *polledConn, f *Flight, data []byte) (rest []byte, next *Flight, done bool) {
	c := f.checker
	p.src.b = data
	var rd reader
	rd.reset(&p.src, p.scratch.Buf, f.Req.maxBody)
	f.Resp = Response{}
	keep, perr := c.readResponse(&rd, f.Req, &f.Resp)
	p.scratch.Buf = rd.buf[:0]
	p.scratch.Trim()
	if errors.Is(perr, errWouldBlock) {
		p.finishBlocking(pc, f, data)
		return nil, nil, false
	}
	rest = data[rd.total-rd.unread():]
	f.Resp.Latency = time.Since(f.start)
	if perr != nil {
		var ioe *ioError
		if errors.As(perr, &ioe) {
			perr = netErr(ioe.phase, f.Deadline.Sub(f.start), ioe.err)
		}
		f.Resp.Err = perr
		c.stats.failures.Add(1)
	}
	p.unfly(f)
	next = pc.flight
	if next != nil {
		next.afterAnswer = true
	}
	broken := perr != nil || !keep || len(rest) > 0 && next == nil // bytes beyond the answers: confused server
	if broken {
		p.drop(pc)
	}
	p.done(f) // f's body lives in the scratch buffer: done with it before the next parse
	if broken && next != nil {
		p.unfly(next)
		p.handOff(next, nil, nil, nil, nil) // its request may be lost with the connection: send it again
		next = nil
	}
	return rest, next, true
}

// finishBlocking hands f, whose answer came in pieces, to the blocking
// path on its connection, with the bytes already read; the connection
// leaves the poller and stays blocking. A flight pipelined behind f is
// sent again on a new connection after it.
func (p *Poller) finishBlocking(pc *polledConn, f *Flight, read []byte) {
	second := pc.second
	if second == f {
		second = nil
	}
	p.unfly(f)
	p.unfly(second)
	conn, err := p.toNetConn(pc)
	p.handOff(f, second, conn, err, read)
}

// toNetConn turns pc back into a blocking net.Conn and removes it from the
// poller.
func (p *Poller) toNetConn(pc *polledConn) (net.Conn, error) {
	p.ep.Remove(pc.fd)
	file := os.NewFile(uintptr(pc.fd), "probe")
	conn, err := net.FileConn(file) // a duplicate, in Go's poller
	_ = file.Close()                // conn holds a duplicate of the socket: nothing to lose
	delete(p.conns, int32(pc.fd))
	pc.fd = -1
	if err != nil {
		pc.checker.polledGone(pc)
		return nil, err
	}
	pc.checker.polledBecame(pc, conn)
	return conn, nil
}

// handOff finishes f and second (nil: none), both off the poller, the
// blocking way on a goroutine of the poller's own, and hands them back to
// the loop, which calls their Done. With conn (or convErr, the failure to
// make it), f's answer is read on it after read, the bytes already read;
// else f is sent again on a new connection. second always is.
func (p *Poller) handOff(f, second *Flight, conn net.Conn, convErr error, read []byte) {
	retry := conn == nil && convErr == nil
	pending := append([]byte(nil), read...) // the loop reads into its buffer again
	go func() {
		c := f.checker
		f.Resp = Response{}
		switch {
		case retry:
			c.stats.staleRetries.Add(1)
			c.Check(f.Req, f.Deadline, &Scratch{}, &f.Resp)
		case convErr != nil:
			f.Resp.Err = netErr("read response", f.Deadline.Sub(f.start), convErr)
			c.stats.failures.Add(1)
		default:
			c.finishOn(conn, f, pending, &Scratch{})
			if second != nil {
				c.drop(conn) // the second answer is still coming on it
			}
		}
		if !retry {
			f.Resp.Latency = time.Since(f.start)
		}
		if second != nil {
			second.Resp = Response{}
			c.stats.staleRetries.Add(1)
			c.Check(second.Req, second.Deadline, &Scratch{}, &second.Resp) // its own buffer: f's body is read after
		}
		p.in.Reply(pollMsg{kind: msgLanded, f: f, second: second})
	}()
}

// expire fails the flights whose deadline passed; their connections
// close. An answer that arrived in time but is not read yet (the loop is
// behind: a full round left events pending) is read first, so a busy
// poller delays probes but does not fail them. It reports whether it
// called Done.
func (p *Poller) expire(now time.Time) (finished bool) {
	for len(p.deadline) > 0 && !p.deadline[0].Deadline.After(now) {
		f := p.deadline[0]
		if fd := f.pc.fd; fd >= 0 {
			finished = p.readable(int32(fd)) || finished
			if len(p.deadline) == 0 || p.deadline[0] != f { // read (or handed off): no longer the expired head
				continue
			}
		}
		if f.afterAnswer && f.pc.fd >= 0 {
			// Pipelined behind a request that was answered, and not
			// answered itself: the server most likely drops pipelined
			// requests. The probe gets a try of its own, with a full
			// timeout, and the checker stops pipelining.
			f.checker.stopPipelining(p.log)
			pc := f.pc
			p.unfly(f)
			p.drop(pc)
			f.start, f.Deadline = now, now.Add(f.Deadline.Sub(f.start))
			p.handOff(f, nil, nil, nil, nil)
			continue
		}
		budget := f.Deadline.Sub(f.start)
		pc := f.pc
		p.unfly(f)
		p.drop(pc) // a flight pipelined behind f times out on it in turn
		f.Resp = Response{Err: timeoutErr(budget, "awaiting response", nil), Latency: now.Sub(f.start)}
		f.checker.stats.failures.Add(1)
		p.done(f)
		finished = true
	}
	return finished
}

// dupConn gives the poller its own descriptor of a connection.
func dupConn(c net.Conn) (int, error) { return rawsys.DupConn(c) }
