// Package proctest holds what tests of real processes share: a buffer a
// child process writes its output into while the test reads it, and the
// promtool lint of a /metrics body.
package proctest

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer safe for a writer and readers at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Promlint runs `promtool check metrics` on a /metrics body and fails the
// test with what it says; it skips the test when promtool is not
// installed (Debian's prometheus package; .ci/run installs it).
func Promlint(t *testing.T, body []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found (Debian's prometheus package; .ci/run installs it): /metrics not linted")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
