package consultest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// EnvBinary names an agent binary to use instead of <repo>/bin/consul.
const EnvBinary = "VIGIL_CONSUL_BIN"

// Binary returns the path of the Consul agent binary: $VIGIL_CONSUL_BIN, or
// <repo>/bin/consul, which it builds with scripts/consul.sh when absent. The
// error says why there is no agent, for a test to skip with.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "consul")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	script := filepath.Join(root, "scripts", "consul.sh")
	cmd := exec.Command("bash", script)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bin/consul is absent and %s failed after %s: %w\n%s",
			script, time.Since(start).Round(time.Second), err, tail(out.Bytes(), 2000))
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s ran but %s is still missing: %w", script, bin, err)
	}
	return bin, nil
}

// repoRoot walks up from the working directory to vigil's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/vigilhq/vigil\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no vigil go.mod above the working directory")
		}
		dir = parent
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
