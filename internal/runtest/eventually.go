package runtest

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it returns nil and returns how
// long that took; after within it fails the test with what and cond's
// last error.
func Eventually(t testing.TB, within time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
