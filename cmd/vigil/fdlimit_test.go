package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// limitedCommand runs the vigil binary with args under an open-file limit
// of nofile (soft and hard, as `ulimit -n` sets them, so Go's raise of the
// soft limit at start cannot lift it).
func limitedCommand(t *testing.T, nofile int, args ...string) *exec.Cmd {
	t.Helper()
	sh := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	return exec.Command("/bin/sh", append([]string{"-c", sh, vigilBinary(t)}, args...)...)
}

// writeFleetFile writes a config of one cluster with n static instances
// (liveness and readiness on one address each) and returns its path.
func writeFleetFile(t *testing.T, n int, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%sclusters:\n  - name: web\n    liveness: {path: /live}\n    readiness: {path: /ready}\n    instances:\n", extra)
	for i := range n {
		fmt.Fprintf(&b, "      - address: 127.0.%d.%d:8080\n", i/250, i%250+1)
	}
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vigil validate says when the fleet does not fit the open-file limit,
// with the numbers and what to do, and still exits 0; nothing when it fits.
func TestValidateWarnsWhenTheFleetDoesNotFit(t *testing.T) {
	path := writeFleetFile(t, 100, "")
	// A limit of 300 keeps 86 connections (150 reserved, 64 short-lived).
	out, err := limitedCommand(t, 300, "validate", "-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("validate under ulimit -n 300: %v\n%s", err, out)
	}
	for _, want := range []string{"ok (1 clusters, 100 instances)", "warning: the fleet does not fit the open-file limit",
		"(100)", "a limit of 300 keeps 86", "other 14 instance addresses are probed on short-lived connections",
		"at least 327", "LimitNOFILE", "this process's open-file limit, 300"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	out, err = limitedCommand(t, 400, "validate", "-config", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("validate under ulimit -n 400 (keeps 150): %v\n%s", err, out)
	}
}
