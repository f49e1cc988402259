//go:build unix

package statedb

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestGuardedTurnsAFaultIntoAnError: reading a mapping past the end of its
// file (SIGBUS, which otherwise kills the process) and a panic both come
// back as errors.
func TestGuardedTurnsAFaultIntoAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // read-only: nothing to lose
	m, err := syscall.Mmap(int(f.Fd()), 0, 4*4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m) //nolint:errcheck // test cleanup
	var b byte
	err = guarded(func() error {
		b = m[3*4096] // past the end of the file
		return nil
	})
	if err == nil {
		t.Fatalf("read %d past the end of the file without an error", b)
	}
	t.Logf("fault: %v", err)
	err = guarded(func() error { panic("assertion failed: page 5") })
	if err == nil || !strings.Contains(err.Error(), "assertion failed: page 5") {
		t.Errorf("panic: %v", err)
	}
}
