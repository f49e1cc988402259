//go:build linux

// Package rawsys holds the few Linux system calls that vigil's epoll loops
// (the probe poller and the simulated fleet) make on non-blocking
// descriptors: they return at once, so they are made without the Go
// scheduler's system-call bookkeeping, which would otherwise wake its
// monitor thread on every call.
package rawsys

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

// Read reads into b from the non-blocking fd (syscall.EAGAIN: nothing yet).
func Read(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return rawIO(syscall.SYS_READ, fd, unsafe.Pointer(&b[0]), len(b))
}

// Write writes b to the non-blocking fd and returns how much went out.
func Write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return rawIO(syscall.SYS_WRITE, fd, unsafe.Pointer(&b[0]), len(b))
}

// Writev writes the buffers iov points at to the non-blocking fd in one
// system call (on TCP, one segment when they fit) and returns how much
// went out.
func Writev(fd int, iov []syscall.Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	return rawIO(syscall.SYS_WRITEV, fd, unsafe.Pointer(&iov[0]), len(iov))
}

// rawIO makes the read-like system call trap on fd with the buffer (or
// vector) p of n elements.
func rawIO(trap uintptr, fd int, p unsafe.Pointer, n int) (int, error) {
	r, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(n))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// EpollWaitNow takes the ready events of the epoll set epfd without
// waiting.
func EpollWaitNow(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// DupConn duplicates c's descriptor (close-on-exec). The duplicate shares
// c's non-blocking open file and stays open when c is closed, so an epoll
// loop can take a connection over from Go's poller.
func DupConn(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("descriptor: %w", err)
	}
	nfd := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			dupErr = e
			return
		}
		nfd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("descriptor: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup descriptor: %w", dupErr)
	}
	return nfd, nil
}
