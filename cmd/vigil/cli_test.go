package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidatePrintsEveryErrorWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yaml")
	bad := `admin: { listen: 127.0.0.1:8080 }
defaults:
  interval: 1s
  timeout: 2s
clusters:
  - name: api
    dialect: yaml
    readiness: { path: /readyz, cel: { pass: "status ==" } }
    instances:
      - address: not-an-address
    colour: blue
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "-config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		path + ":11: clusters[0].colour:", // unknown key, with its line
		path + ":7: clusters[0].dialect:", // bad enum
		path + ":10: clusters[0].instances[0].address:",
		path + ":4: defaults.timeout:", // longer than interval
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	good := filepath.Join("..", "..", "examples", "vigil.yaml")
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"validate", "-config", good}, &stdout, &stderr); code != 0 {
		t.Fatalf("examples/vigil.yaml: exit %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok (") {
		t.Errorf("stdout: %q", stdout.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "vigil ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
}

func TestValidateRejectsAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte("# clusters go here\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "-config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	if want := path + ": the configuration is empty"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want it to contain %q", stderr.String(), want)
	}
}
