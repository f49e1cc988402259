// Package runtest helps tests run things: a component's Run loop, started
// and stopped cleanly (cancel, wait for Run to return, check what it
// returned), and waiting for a condition.
package runtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Timeout bounds how long a stop waits for Run to return: generous, the
// machine is shared.
const Timeout = 20 * time.Second

// Start runs run on its own goroutine until the returned stop, which the
// test's end calls too, cancels its context. stop waits for run to return,
// fails the test if it returned an error or did not return within Timeout,
// then calls each of after (checks or cleanup that must follow Run).
// stop does its work once, however often it is called.
func Start(t testing.TB, run func(ctx context.Context) error, after ...func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(Timeout):
				t.Errorf("Run did not return within %s of its cancel", Timeout)
			}
			for _, f := range after {
				f()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
