package main

import (
	"fmt"
	"syscall"
)

// fdReserve is the files a process needs besides its instances: the control
// API, logs, the runtime's own descriptors.
const fdReserve = 64

// openFileLimit makes sure the soft RLIMIT_NOFILE is (nearly) the hard
// limit and returns the soft and hard limits, and whether it had to raise
// the soft limit itself. Since Go 1.19 the runtime raises the soft limit at
// start-up to hard-1 (see syscall/rlimit.go; verified by TestBinarySignals),
// so this only acts in builds or environments where that did not happen.
func openFileLimit() (soft, hard uint64, raised bool, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, false, fmt.Errorf("fleetsim: read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur < lim.Max-1 {
		up := lim
		up.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			lim, raised = up, true
		}
	}
	return lim.Cur, lim.Max, raised, nil
}

// checkFiles fails when n instances at perInstance files each do not fit the limit.
func checkFiles(n, perInstance int, soft, hard uint64) error {
	need := uint64(n)*uint64(perInstance) + fdReserve
	if need > soft {
		return fmt.Errorf("fleetsim: %d instances need about %d open files (%d per instance + %d reserve) but RLIMIT_NOFILE allows %d (hard limit %d): run fewer instances per process (at most %d) or raise the limit",
			n, need, perInstance, fdReserve, soft, hard, (soft-min(soft, fdReserve))/uint64(perInstance))
	}
	return nil
}
