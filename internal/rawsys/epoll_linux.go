//go:build linux

package rawsys

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Epoll is an epoll set with a wake pipe in it, for a loop that owns the
// set's descriptors alone. Wake, from any goroutine, makes the loop's wait
// return (it is the wake function of the loop's inbox); the loop sees the
// pipe's event, which IsWake recognizes and drains. The pipe never blocks,
// so its reads and writes are raw system calls. The set is itself
// registered in Go's poller, so a wait that blocks parks the loop's
// goroutine rather than a thread, and a wakeup costs what any network
// read's does.
type Epoll struct {
	fd    int
	wakeR int
	wakeW int
	file  *os.File // fd, in Go's poller; closing it closes fd
	raw   syscall.RawConn
}

// OpenEpoll creates the set and its wake pipe.
func OpenEpoll() (*Epoll, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with Go's poller: an
	// epoll set is readable while it has events.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd) // never used: nothing to lose
		return nil, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	file := os.NewFile(uintptr(epfd), "epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		_ = file.Close() // never used: nothing to lose
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = file.Close() // never used: nothing to lose
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	e := &Epoll{fd: epfd, wakeR: pipe[0], wakeW: pipe[1], file: file, raw: raw}
	if err := e.Add(e.wakeR, syscall.EPOLLIN); err != nil {
		e.Close()
		return nil, fmt.Errorf("epoll_ctl wake pipe: %w", err)
	}
	return e, nil
}

// Add watches fd for events.
func (e *Epoll) Add(fd int, events uint32) error { return e.ctl(syscall.EPOLL_CTL_ADD, fd, events) }

// Modify changes the events fd is watched for.
func (e *Epoll) Modify(fd int, events uint32) error { return e.ctl(syscall.EPOLL_CTL_MOD, fd, events) }

// Remove stops watching fd (closing fd does too).
func (e *Epoll) Remove(fd int) {
	_ = syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_DEL, fd, nil) // fails only when fd is not in the set: then it is out already
}

func (e *Epoll) ctl(op, fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return syscall.EpollCtl(e.fd, op, fd, &ev)
}

// WaitNow takes the ready events without waiting.
func (e *Epoll) WaitNow(events []syscall.EpollEvent) (int, error) { return EpollWaitNow(e.fd, events) }

// Wait takes the ready events, waiting until one comes or until, whichever
// is first; parked reports that it had to wait. Its first look is a
// non-blocking epoll_wait; only then does the goroutine park.
func (e *Epoll) Wait(events []syscall.EpollEvent, until time.Time) (n int, parked bool, err error) {
	if err := e.file.SetReadDeadline(until); err != nil {
		return 0, false, fmt.Errorf("epoll wait deadline: %w", err)
	}
	looks := 0
	rerr := e.raw.Read(func(fd uintptr) bool {
		looks++
		n, err = EpollWaitNow(int(fd), events)
		return n != 0 || err != nil // false: wait until the set is readable
	})
	if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) && err == nil {
		n, err = 0, rerr
	}
	return max(n, 0), looks > 1, err
}

// Wake makes the loop's wait return. A full pipe wakes it as well, so the
// write's result does not matter.
func (e *Epoll) Wake() {
	b := [1]byte{1}
	_, _ = Write(e.wakeW, b[:]) // see above
}

// IsWake reports whether ev is the wake pipe's, and if so drains the pipe.
func (e *Epoll) IsWake(ev *syscall.EpollEvent) bool {
	if int(ev.Fd) != e.wakeR {
		return false
	}
	var b [64]byte
	for {
		if n, _ := Read(e.wakeR, b[:]); n <= 0 {
			return true
		}
	}
}

// Close closes the set and the pipe: the loop does, as it ends, once its
// inbox is closed (an inbox wakes its owner under its lock, so no Wake
// can come after the owner took the close).
func (e *Epoll) Close() {
	// The loop is over: a failed close has nothing left to lose.
	_ = e.file.Close()
	_ = syscall.Close(e.wakeR)
	_ = syscall.Close(e.wakeW)
}
