//go:build linux

package probe

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/internal/rawsys"
)

// Poller runs plain-HTTP probes on established keep-alive connections from
// one epoll set and one goroutine. Start writes the request from the
// caller's goroutine; the poller reads every answer that arrived in one
// round, parses it and calls Done. No goroutine waits on a connection, no
// per-probe deadline timer is armed, and one wakeup serves every answer
// that arrived meanwhile: that is most of what a probe costs on Go's
// blocking path.
//
// Connections join after a first probe went the blocking way (that probe
// dialed), and leave on any error, a timeout, or an answer that did not
// arrive in one read (that probe is finished the blocking way, on a worker
// goroutine of the poller's own, and the connection stays blocking).
type Poller struct {
	log        *slog.Logger
	afterRound func() bool // after the Done calls of a round (or of a handover); true: it woke other goroutines

	mu         sync.Mutex
	epfd       int      // -1 until the first connection joins
	epFile     *os.File // epfd in Go's own poller: waiting parks a goroutine, not a thread
	epRaw      syscall.RawConn
	wakeR      int
	wakeW      int
	conns      map[int32]*polledConn // by descriptor
	inFlight   int                   // flights started whose Done has not returned yet
	deadline   flightHeap
	sleeping   bool      // the loop is (about to be) blocked in epoll_wait
	wakeAt     time.Time // when a blocked loop wakes on its own
	closing    bool
	loopExited bool       // the loop closed the epoll set and the wake pipe
	idle       *sync.Cond // signalled when inFlight drops to 0
	loopDone   chan struct{}

	// Poller goroutine only.
	events  []syscall.EpollEvent
	raw     []byte
	scratch Scratch
	src     bytesSource
}

// polledConn is one connection the poller reads: its own descriptor (the
// net.Conn it came from is closed).
type polledConn struct {
	checker *httpChecker
	// Guarded by Poller.mu.
	fd      int     // -1 once dropped
	flight  *Flight // the probe whose answer comes next
	second  *Flight // a probe pipelined behind flight, or nil
	writing bool    // start is writing to it outside the lock
	reading bool    // the loop is reading it outside the lock
	closeFD int     // a descriptor dropped while in use, closed after (-1: none)
}

const (
	pollEvents = 256
	pollRawBuf = 16 << 10               // one read; a larger answer is finished the blocking way
	pollIdle   = 100 * time.Millisecond // longest blocking wait with nothing in flight
)

// NewPoller returns a Poller. afterRound (may be nil) runs on the poller's
// goroutine after each round of Done calls, so that work they leave, such
// as a store commit, is done once for all of them; it reports whether that
// work woke other goroutines (the poller then yields to them). The Poller
// holds no descriptor until a connection joins; Close releases them.
func NewPoller(log *slog.Logger, afterRound func() bool) *Poller {
	if log == nil {
		log = slog.Default()
	}
	if afterRound == nil {
		afterRound = func() bool { return false }
	}
	p := &Poller{log: log, afterRound: afterRound, epfd: -1, conns: make(map[int32]*polledConn)}
	p.idle = sync.NewCond(&p.mu)
	return p
}

// attach makes fd (non-blocking, owned by the poller from now on) a polled
// connection of c. It returns nil, having closed fd, when the poller is
// closing or epoll fails.
func (p *Poller) attach(c *httpChecker, fd int) *polledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		syscall.Close(fd)
		return nil
	}
	if p.epfd < 0 {
		if err := p.openLocked(); err != nil {
			p.log.Warn("probe poller unavailable; probes stay on the blocking path", "error", err)
			p.closing = true
			syscall.Close(fd)
			return nil
		}
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		return nil
	}
	pc := &polledConn{fd: fd, checker: c, closeFD: -1}
	p.conns[int32(fd)] = pc
	return pc
}

// openLocked creates the epoll set and starts the loop. p.mu is held.
func (p *Poller) openLocked() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with Go's poller: an
	// epoll set is readable while it has events.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return fmt.Errorf("epoll set non-blocking: %w", err)
	}
	epFile := os.NewFile(uintptr(epfd), "probe-epoll")
	epRaw, err := epFile.SyscallConn()
	if err != nil {
		epFile.Close()
		return fmt.Errorf("epoll descriptor: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		epFile.Close()
		return fmt.Errorf("pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		epFile.Close()
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	p.epfd, p.epFile, p.epRaw, p.wakeR, p.wakeW = epfd, epFile, epRaw, pipe[0], pipe[1]
	p.events = make([]syscall.EpollEvent, pollEvents)
	p.raw = make([]byte, pollRawBuf)
	p.loopDone = make(chan struct{})
	go p.loop()
	return nil
}

// start registers f on pc and writes its request; with second, both
// requests go out in one write, second's pipelined behind f's (one segment,
// one wakeup of the server, usually one read for both answers). It returns
// false, having done nothing that needs undoing by the caller, when the
// probes must run the blocking way: the connection is gone or the write
// did not go through whole (the connection is then dropped, so the
// blocking path redials).
func (p *Poller) start(pc *polledConn, f, second *Flight) bool {
	now := time.Now()
	// Once the request is out, the answer may come, Done run and f be
	// started again before this returns: nothing below reads f's fields.
	raw, deadline := f.Req.raw, f.Deadline
	size := len(raw)
	var iov [2]syscall.Iovec // a pair's two requests; stays on the stack
	p.mu.Lock()
	for pc.writing && pc.flight == nil && pc.fd >= 0 && !p.closing {
		// The last request's answer came and was done with before its
		// writer took the lock to say the write returned (this start may
		// come from that answer's Done): wait for it, rather than send
		// this probe the blocking way on a new connection.
		p.mu.Unlock()
		runtime.Gosched()
		p.mu.Lock()
	}
	if p.closing || pc.fd < 0 || pc.flight != nil || pc.writing {
		p.mu.Unlock()
		return false
	}
	p.flyLocked(pc, f, now)
	if second != nil {
		p.flyLocked(pc, second, now)
		size += len(second.Req.raw)
		deadline = earliest(deadline, second.Deadline)
		iov[0], iov[1] = iovec(raw), iovec(second.Req.raw)
	}
	pc.writing = true // the descriptor stays open until the write returns
	fd := pc.fd
	p.mu.Unlock()

	var n int
	var err error
	if second == nil {
		n, err = rawsys.Write(fd, raw)
	} else {
		n, err = rawsys.Writev(fd, iov[:])
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	pc.writing = false
	p.releaseLocked(pc)
	if err != nil || n != size {
		if pc.flight != f { // the loop already took f over; Done follows
			if second != nil && (pc.flight == second || pc.second == second) {
				// Not (wholly) sent: it times out on the dropped connection.
				p.dropLocked(pc)
			}
			return true
		}
		// A dead keep-alive connection (reset, broken pipe) or a full
		// socket buffer: let the blocking path redial, as it retries a
		// stale connection.
		for _, g := range []*Flight{f, second} {
			if g != nil {
				p.unflyLocked(g)
				p.landedLocked()
			}
		}
		p.dropLocked(pc)
		return false
	}
	if p.sleeping && deadline.Before(p.wakeAt) {
		p.wakeLocked()
	}
	return true
}

// flyLocked puts f in flight on pc, behind any flight already there.
// p.mu is held.
func (p *Poller) flyLocked(pc *polledConn, f *Flight, now time.Time) {
	if pc.flight == nil {
		pc.flight = f
	} else {
		pc.second = f
	}
	f.pc, f.start, f.afterAnswer = pc, now, false
	p.inFlight++
	p.deadline.push(f)
}

func iovec(b []byte) syscall.Iovec {
	v := syscall.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// detach takes pc away: its descriptor is shut down, and the loop closes it
// (completing a flight on it with an error). Called by the checker's Close.
func (p *Poller) detach(pc *polledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.fd < 0 {
		return
	}
	if pc.flight == nil || p.epfd < 0 {
		p.dropLocked(pc)
		return
	}
	syscall.Shutdown(pc.fd, syscall.SHUT_RDWR) // the loop sees the end of stream
}

// Close waits for the probes in flight to finish (each within its
// deadline), then closes every polled connection and stops the loop.
// Start fails afterwards.
func (p *Poller) Close() {
	p.mu.Lock()
	p.closing = true
	for p.inFlight > 0 {
		p.idle.Wait()
	}
	for _, pc := range p.conns {
		p.dropLocked(pc)
	}
	started := p.epfd >= 0
	p.wakeLocked()
	p.mu.Unlock()
	if started {
		<-p.loopDone
	}
}

// wakeLocked makes a blocked loop go round. p.mu is held, so the loop has
// not closed the pipe meanwhile.
func (p *Poller) wakeLocked() {
	if p.epfd >= 0 && !p.loopExited {
		syscall.Write(p.wakeW, []byte{1})
	}
}

// dropLocked removes pc from the set and closes its descriptor. p.mu is held.
func (p *Poller) dropLocked(pc *polledConn) {
	if pc.fd < 0 {
		return
	}
	if p.epfd >= 0 && !p.loopExited {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pc.fd, nil)
	}
	delete(p.conns, int32(pc.fd))
	if pc.writing || pc.reading { // closed once the write or read returns
		pc.closeFD = pc.fd
	} else {
		syscall.Close(pc.fd)
	}
	pc.fd = -1
	pc.checker.polledGone(pc)
}

// releaseLocked closes pc's descriptor if it was dropped while written or
// read outside the lock and that use is over: a descriptor is never closed
// (and its number reused) under a system call that still names it.
// p.mu is held.
func (p *Poller) releaseLocked(pc *polledConn) {
	if !pc.writing && !pc.reading && pc.closeFD >= 0 {
		syscall.Close(pc.closeFD)
		pc.closeFD = -1
	}
}

// unflyLocked takes f off its connection and the deadline heap; a flight
// pipelined behind it becomes the one whose answer comes next. f stays
// counted in flight until landed, after its Done returned. p.mu is held.
func (p *Poller) unflyLocked(f *Flight) {
	if f.heapIdx >= 0 {
		p.deadline.remove(f.heapIdx)
	}
	if pc := f.pc; pc != nil {
		switch f {
		case pc.flight:
			pc.flight, pc.second = pc.second, nil
		case pc.second:
			pc.second = nil
		}
	}
}

// done calls f's Done, then counts the flight landed: Close returns only
// once every Done has returned, so nothing it starts outlives the poller's
// owner shutting down.
func (p *Poller) done(f *Flight) {
	f.Done(f)
	p.mu.Lock()
	p.landedLocked()
	p.mu.Unlock()
}

// landedLocked counts one flight fewer in flight. p.mu is held.
func (p *Poller) landedLocked() {
	p.inFlight--
	if p.inFlight == 0 {
		p.idle.Broadcast()
	}
}

// loop is the poller's goroutine. Reads and non-blocking epoll_waits are
// raw system calls; only an epoll_wait that may block goes through the
// scheduler.
func (p *Poller) loop() {
	defer close(p.loopDone)
	for {
		n, parked, err := p.block()
		if err != nil && !errors.Is(err, syscall.EINTR) {
			p.log.Error("probe poller: epoll_wait failed; failing its probes", "error", err)
			n = 0
		}
		finished := 0
		for _, ev := range p.events[:max(n, 0)] {
			if int(ev.Fd) == p.wakeR {
				drainPipe(p.wakeR)
				continue
			}
			if p.readable(ev.Fd) {
				finished++
			}
		}
		if (p.expire(time.Now()) || finished > 0) && (p.afterRound() || !parked) {
			// While answers keep coming the loop never blocks, and Go
			// would let it run out its time slice while the goroutines
			// its round or the network woke (the xDS publisher, gRPC
			// streams, the event stream) wait for a processor: let them
			// run now. A loop that waited for this round yields only if
			// its commit woke someone.
			runtime.Gosched()
		}
		p.mu.Lock()
		done := p.closing && p.inFlight == 0 && len(p.conns) == 0
		if done {
			p.epFile.Close()
			syscall.Close(p.wakeR)
			syscall.Close(p.wakeW)
			p.loopExited = true
		}
		p.mu.Unlock()
		if done {
			return
		}
	}
}

// block takes the ready events, waiting for one or the earliest deadline
// when there are none (parked reports that it waited). The wait parks the
// loop's goroutine in Go's poller (the epoll set is registered there), so
// no thread sits in epoll_wait and a wakeup costs what any network read's
// does; the first look is the non-blocking epoll_wait that the wait starts
// with.
func (p *Poller) block() (n int, parked bool, err error) {
	p.mu.Lock()
	wait := pollIdle
	if len(p.deadline) > 0 {
		wait = time.Until(p.deadline[0].Deadline)
	}
	at := time.Now().Add(wait)
	p.sleeping, p.wakeAt = true, at
	p.mu.Unlock()
	if wait <= 0 {
		n, err = rawsys.EpollWaitNow(p.epfd, p.events)
	} else {
		p.epFile.SetReadDeadline(at)
		looks := 0
		rerr := p.epRaw.Read(func(fd uintptr) bool {
			looks++
			n, err = rawsys.EpollWaitNow(int(fd), p.events)
			return n != 0 || err != nil // false: wait until the set is readable
		})
		parked = looks > 1
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) && err == nil {
			n, err = 0, rerr
		}
	}
	p.mu.Lock()
	p.sleeping = false
	p.mu.Unlock()
	return n, parked, err
}

// readable reads what arrived on fd and finishes the flights it answers
// (two when a pipelined pair's answers came together); it reports whether
// it called Done.
func (p *Poller) readable(fd int32) bool {
	p.mu.Lock()
	pc := p.conns[fd]
	if pc == nil {
		p.mu.Unlock()
		return false
	}
	pc.reading = true
	p.mu.Unlock()
	n, err := rawsys.Read(int(fd), p.raw)
	// The flight is looked up after the read: a request is registered
	// before it is written, so an answer read here finds its flight.
	p.mu.Lock()
	pc.reading = false
	p.releaseLocked(pc)
	dropped, f := pc.fd < 0, pc.flight
	p.mu.Unlock()
	if dropped || errors.Is(err, syscall.EAGAIN) {
		return false
	}
	if f == nil { // the server closed an idle connection, or talks out of turn
		p.mu.Lock()
		p.dropLocked(pc)
		p.mu.Unlock()
		return false
	}
	if n <= 0 {
		// Closed before any answer byte: like the blocking path, try once
		// more on a new connection within the deadline.
		p.handover(pc, f, nil, true)
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
// gone and that flight was handed over). done reports whether f's Done
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
		p.handover(pc, f, data, false)
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
	p.mu.Lock()
	p.unflyLocked(f)
	next = pc.flight
	if next != nil {
		next.afterAnswer = true
	}
	broken := perr != nil || !keep || len(rest) > 0 && next == nil // bytes beyond the answers: confused server
	if broken {
		p.dropLocked(pc)
	}
	p.mu.Unlock()
	p.done(f) // f's body lives in the scratch buffer: done with it before the next parse
	if broken && next != nil {
		p.handover(pc, next, nil, true) // its request may be lost with the connection: send it again
		next = nil
	}
	return rest, next, true
}

// handover finishes f the blocking way on a goroutine of its own: on the
// connection itself with the bytes already read (an answer in pieces), or,
// with retry, on a new connection (the kept one was closed). A flight
// pipelined behind f goes along and is sent again on a new connection
// after it. The connection leaves the poller either way.
func (p *Poller) handover(pc *polledConn, f *Flight, read []byte, retry bool) {
	c := f.checker
	var conn net.Conn
	var convErr error
	p.mu.Lock()
	for pc.writing && !retry {
		// start's write has returned (its answer is here); it only has to
		// take the lock to say so. The descriptor must be ours to convert.
		p.mu.Unlock()
		runtime.Gosched()
		p.mu.Lock()
	}
	second := pc.second
	if second == f {
		second = nil
	}
	for _, g := range []*Flight{f, second} {
		if g != nil {
			p.unflyLocked(g)
		}
	}
	pc.flight, pc.second = nil, nil
	if !retry && pc.fd >= 0 {
		conn, convErr = p.toNetConnLocked(pc)
	} else {
		retry = true
		p.dropLocked(pc)
	}
	p.mu.Unlock()
	pending := append([]byte(nil), read...)
	go func() {
		s := &Scratch{}
		f.Resp = Response{}
		switch {
		case retry:
			c.stats.staleRetries.Add(1)
			c.Check(f.Req, f.Deadline, s, &f.Resp)
		case convErr != nil:
			f.Resp.Err = netErr("read response", f.Deadline.Sub(f.start), convErr)
			c.stats.failures.Add(1)
		default:
			c.finishOn(conn, f, pending, s)
			if second != nil {
				c.drop(conn) // the second answer is still coming on it
			}
		}
		if !retry {
			f.Resp.Latency = time.Since(f.start)
		}
		f.Done(f)
		if second != nil {
			second.Resp = Response{}
			c.stats.staleRetries.Add(1)
			c.Check(second.Req, second.Deadline, s, &second.Resp)
			second.Done(second)
		}
		p.afterRound()
		p.mu.Lock()
		p.landedLocked()
		if second != nil {
			p.landedLocked()
		}
		p.mu.Unlock()
	}()
}

// toNetConnLocked turns pc back into a blocking net.Conn and removes it
// from the poller. p.mu is held.
func (p *Poller) toNetConnLocked(pc *polledConn) (net.Conn, error) {
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pc.fd, nil)
	file := os.NewFile(uintptr(pc.fd), "probe")
	conn, err := net.FileConn(file) // a duplicate, in Go's poller
	file.Close()
	delete(p.conns, int32(pc.fd))
	pc.fd = -1
	if err != nil {
		pc.checker.polledGone(pc)
		return nil, err
	}
	pc.checker.polledBecame(pc, conn)
	return conn, nil
}

// expire fails the flights whose deadline passed; their connections
// close. An answer that arrived in time but is not read yet (the loop is
// behind: a full round left events pending) is read first, so a busy
// poller delays probes but does not fail them. It reports whether it
// called Done.
func (p *Poller) expire(now time.Time) (finished bool) {
	for {
		p.mu.Lock()
		if len(p.deadline) == 0 || p.deadline[0].Deadline.After(now) {
			p.mu.Unlock()
			return finished
		}
		f := p.deadline[0]
		if fd := f.pc.fd; fd >= 0 && !f.pc.writing {
			p.mu.Unlock()
			finished = p.readable(int32(fd)) || finished
			p.mu.Lock()
			if f.heapIdx != 0 || p.deadline[0] != f { // read (or handed over): no longer the expired head
				p.mu.Unlock()
				continue
			}
		}
		if f.afterAnswer && f.pc.fd >= 0 {
			// Pipelined behind a request that was answered, and not
			// answered itself: the server most likely drops pipelined
			// requests. The probe gets a try of its own, with a full
			// timeout, and the checker stops pipelining.
			f.checker.stopPipelining(p.log)
			p.unflyLocked(f)
			f.start, f.Deadline = now, now.Add(f.Deadline.Sub(f.start))
			p.mu.Unlock()
			p.handover(f.pc, f, nil, true)
			continue
		}
		budget := f.Deadline.Sub(f.start)
		p.unflyLocked(f)
		p.dropLocked(f.pc)
		p.mu.Unlock()
		f.Resp = Response{Err: timeoutErr(budget, "awaiting response", nil), Latency: now.Sub(f.start)}
		f.checker.stats.failures.Add(1)
		p.done(f)
		finished = true
	}
}

func drainPipe(fd int) {
	var b [64]byte
	for {
		if n, _ := syscall.Read(fd, b[:]); n <= 0 {
			return
		}
	}
}

// dupConn gives the poller its own descriptor of a connection.
func dupConn(c net.Conn) (int, error) { return rawsys.DupConn(c) }
