package probe

import (
	"errors"
	"syscall"
)

// SkipCause says why a probe was skipped instead of run: vigil could not
// run it, so it says nothing about the instance, and the instance keeps
// its verdict.
type SkipCause string

// The causes of a skipped probe. Each is a value of the cause label of
// vigil_probes_skipped_total.
const (
	// SkipFDBudget: the probe needed a new connection and every
	// short-lived connection slot of the fd budget was taken.
	SkipFDBudget SkipCause = "fd_budget"
	// SkipFDLimit: vigil, or the system, ran out of file descriptors
	// (EMFILE, ENFILE).
	SkipFDLimit SkipCause = "fd_limit"
	// SkipLocalPorts: no local port was free to connect from (EADDRNOTAVAIL).
	SkipLocalPorts SkipCause = "local_ports"
	// SkipNoBuffers: the kernel had no memory for the socket (ENOBUFS, ENOMEM).
	SkipNoBuffers SkipCause = "no_buffers"
	// SkipLate: the probe could not start on time (see the aggregator).
	SkipLate SkipCause = "late"
)

// SkipCauses lists every SkipCause, in a fixed order.
func SkipCauses() []SkipCause {
	return []SkipCause{SkipFDBudget, SkipFDLimit, SkipLocalPorts, SkipNoBuffers, SkipLate}
}

// localErrnos are the system call errors that are vigil's own shortage,
// never the target's doing, whichever call (socket, connect, write, dup)
// returned them.
var localErrnos = []struct {
	errno syscall.Errno
	cause SkipCause
}{
	{syscall.EMFILE, SkipFDLimit},
	{syscall.ENFILE, SkipFDLimit},
	{syscall.EADDRNOTAVAIL, SkipLocalPorts},
	{syscall.ENOBUFS, SkipNoBuffers},
	{syscall.ENOMEM, SkipNoBuffers},
}

// LocalFault is a Response.Err that is vigil's own fault: the probe did
// not reach a verdict about the target and must be skipped, not counted
// as a failure.
type LocalFault struct {
	Cause SkipCause
	Err   error
}

func (e *LocalFault) Error() string { return e.Err.Error() }
func (e *LocalFault) Unwrap() error { return e.Err }

// errNoSlot is the LocalFault of a probe the fd budget had no slot for.
var errNoSlot = &LocalFault{Cause: SkipFDBudget,
	Err: errors.New("no connection slot free in vigil's open-file budget (every short-lived slot in use)")}

// Skipped reports whether err, a Response.Err, is vigil's own fault rather
// than the target's, and why: a LocalFault, or an error caused by one of
// the system call errors that mean vigil ran short of descriptors, local
// ports or socket buffers.
func Skipped(err error) (SkipCause, bool) {
	if err == nil {
		return "", false
	}
	var lf *LocalFault
	if errors.As(err, &lf) {
		return lf.Cause, true
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	for _, l := range localErrnos {
		if errno == l.errno {
			return l.cause, true
		}
	}
	return "", false
}
