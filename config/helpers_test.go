package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/config"
)

// mustParse parses src as vigil.yaml and fails the test on any problem.
func mustParse(t *testing.T, src string, opts ...config.Option) *config.Config {
	t.Helper()
	c, err := config.Parse("vigil.yaml", []byte(withOneCluster(src)), opts...)
	if err != nil {
		t.Fatalf("unexpected problems:\n%v", err)
	}
	return c
}

// problems parses src as vigil.yaml and returns the printed problems, one per
// line; it fails the test when the configuration is accepted.
func problems(t *testing.T, src string, opts ...config.Option) []string {
	t.Helper()
	_, err := config.Parse("vigil.yaml", []byte(withOneCluster(src)), opts...)
	return problemLines(t, err)
}

func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("configuration accepted, want problems")
	}
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want *config.Errors", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(errs.List) {
		t.Fatalf("Error() has %d lines for %d problems:\n%v", len(lines), len(errs.List), err)
	}
	return lines
}

// hasLine fails the test unless want is one of lines.
func hasLine(t *testing.T, lines []string, want string) {
	t.Helper()
	for _, l := range lines {
		if l == want {
			return
		}
	}
	t.Errorf("missing problem\n  %s\ngot:\n  %s", want, strings.Join(lines, "\n  "))
}

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withCluster wraps cluster lines (indented by four spaces) in a minimal
// configuration: line 1 is "clusters:", line 2 is "  - name: c".
func withCluster(lines string) string {
	return "clusters:\n  - name: c\n" + lines
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func join(lines []string) string { return strings.Join(lines, "\n") }

func replaceDir(s, dir string) string { return strings.ReplaceAll(s, "{dir}", dir) }

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// oneCluster is the smallest cluster a configuration may hold.
const oneCluster = "clusters:\n  - name: only\n    instances: [{id: a, address: 127.0.0.1:80}]\n    readiness: {}\n"

// withOneCluster completes a test's configuration that is about anything
// but clusters with oneCluster, which every configuration needs, after its
// last line, so no line number moves. Sources that are not a YAML mapping
// with keys (empty, broken, a list) are the test's point and stay as they are.
func withOneCluster(src string) string {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return src
	}
	top := doc.Content[0].Content
	for i := 0; i < len(top); i += 2 {
		if top[i].Value == "clusters" {
			return src
		}
	}
	if !strings.HasSuffix(src, "\n") {
		src += "\n"
	}
	return src + oneCluster
}
