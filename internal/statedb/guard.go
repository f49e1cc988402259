package statedb

import (
	"fmt"
	"runtime/debug"
)

// guarded runs fn on a goroutine of its own on which a memory fault (such
// as SIGBUS on a mapped file cut short) panics instead of crashing the
// process, and turns any panic into an error. Open's plain-read checks are
// meant to keep bbolt from ever faulting or panicking; this is the second
// line, for what they might miss.
func guarded(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			r := recover()
			if fault, ok := r.(interface{ Addr() uintptr }); ok {
				done <- fmt.Errorf("reading it faulted at address %#x: part of it is not in the file", fault.Addr())
			} else if r != nil {
				done <- fmt.Errorf("bbolt failed reading it: %v", r)
			}
		}()
		done <- fn()
	}()
	return <-done
}
