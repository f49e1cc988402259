package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/metrics"
)

// TestSkippedClassifiesLocalFaults: vigil's own shortages, however a
// checker wrapped them, are skips with a cause; anything the target did
// (or did not do) is not.
func TestSkippedClassifiesLocalFaults(t *testing.T) {
	dialErr := func(call string, errno syscall.Errno) error {
		return netErr("connect", time.Second, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(call, errno)})
	}
	for _, tc := range []struct {
		name  string
		err   error
		cause SkipCause // "": not skipped
	}{
		{"socket EMFILE", dialErr("socket", syscall.EMFILE), SkipFDLimit},
		{"socket ENFILE", dialErr("socket", syscall.ENFILE), SkipFDLimit},
		{"connect EADDRNOTAVAIL", dialErr("connect", syscall.EADDRNOTAVAIL), SkipLocalPorts},
		{"connect ENOBUFS", dialErr("connect", syscall.ENOBUFS), SkipNoBuffers},
		{"socket ENOMEM", dialErr("socket", syscall.ENOMEM), SkipNoBuffers},
		{"write ENOBUFS", netErr("write request", time.Second, &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.ENOBUFS)}), SkipNoBuffers},
		{"dup EMFILE", netErr("read response", time.Second, &net.OpError{Op: "file", Err: os.NewSyscallError("dup", syscall.EMFILE)}), SkipFDLimit},
		{"bare errno", syscall.EMFILE, SkipFDLimit},
		{"budget", errNoSlot, SkipFDBudget},
		{"wrapped budget", fmt.Errorf("probe: %w", errNoSlot), SkipFDBudget},
		{"refused", dialErr("connect", syscall.ECONNREFUSED), ""},
		{"unreachable", dialErr("connect", syscall.ENETUNREACH), ""},
		{"no route", dialErr("connect", syscall.EHOSTUNREACH), ""},
		{"reset", netErr("read response", time.Second, syscall.ECONNRESET), ""},
		{"timeout", timeoutErr(time.Second, "connecting", nil), ""},
		{"closed by server", netErr("read response", time.Second, io.EOF), ""},
		{"malformed", malformed("malformed status line"), ""},
		{"body too large", ErrBodyTooLarge, ""},
		{"other", errors.New("anything"), ""},
		{"nil", nil, ""},
	} {
		cause, ok := Skipped(tc.err)
		if ok != (tc.cause != "") || cause != tc.cause {
			t.Errorf("%s: Skipped(%v) = %q, %v; want %q", tc.name, tc.err, cause, ok, tc.cause)
		}
	}
}

func TestSkipCausesAreDistinct(t *testing.T) {
	seen := map[SkipCause]bool{}
	for _, c := range SkipCauses() {
		if c == "" || seen[c] {
			t.Errorf("cause %q empty or listed twice", c)
		}
		seen[c] = true
	}
	for _, l := range localErrnos {
		if !seen[l.cause] {
			t.Errorf("errno %v maps to %q, which SkipCauses does not list", l.errno, l.cause)
		}
	}
}

// metrics exports vigil_probes_skipped_total at zero for every cause; it
// cannot import this package, so its list is kept equal to ours here.
func TestMetricsKnowEverySkipCause(t *testing.T) {
	var ours []string
	for _, c := range SkipCauses() {
		ours = append(ours, string(c))
	}
	if fmt.Sprint(ours) != fmt.Sprint(metrics.SkipCauses) {
		t.Errorf("metrics.SkipCauses = %v, probe.SkipCauses() = %v", metrics.SkipCauses, ours)
	}
}
