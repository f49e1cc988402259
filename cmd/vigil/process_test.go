package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/proctest"
)

// TestMain removes the binaries the process tests build.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir.dir != "" {
		_ = os.RemoveAll(binDir.dir) // a temporary dir: a leftover costs only disk
	}
	os.Exit(code)
}

// binDir holds the binaries built for the tests that run them as real
// processes.
var binDir struct {
	once sync.Once
	dir  string
	err  error
}

// builtBinary is one command, built once.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var vigilBuilt, fleetsimBuilt builtBinary

func vigilBinary(t *testing.T) string { return vigilBuilt.build(t, "vigil", ".") }

func fleetsimBinary(t *testing.T) string { return fleetsimBuilt.build(t, "fleetsim", "../fleetsim") }

// build builds the command in pkg (relative to this package) as name,
// once, and returns its path.
func (b *builtBinary) build(t *testing.T, name, pkg string) string {
	t.Helper()
	binDir.once.Do(func() { binDir.dir, binDir.err = os.MkdirTemp("", "vigil-bin-") })
	if binDir.err != nil {
		t.Fatal(binDir.err)
	}
	b.once.Do(func() {
		b.path = filepath.Join(binDir.dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// process is a vigil binary running under a test.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *proctest.SyncBuffer
	exited chan struct{}
	code   int
}

// startProcess runs the vigil binary with args; it is killed when the test ends.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	return startCommand(t, exec.Command(vigilBinary(t), args...))
}

// startCommand runs cmd (the vigil binary, perhaps through a wrapper that
// execs it); it is killed when the test ends.
func startCommand(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{t: t, cmd: cmd, stderr: &proctest.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("vigil (pid %d) output:\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(within):
		p.t.Fatalf("vigil still running after %s", within)
		return 0
	}
}

func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// waitOutput polls the output until it contains s.
func (p *process) waitOutput(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.exited:
			p.t.Fatalf("vigil exited (code %d) without writing %q", p.code, s)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("vigil did not write %q within %s", s, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	_ = ln.Close() // only its port was wanted
	return addr
}

// waitHTTP polls url until it answers want.
func waitHTTP(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code := 0
		if resp, err := httpClient.Get(url); err == nil {
			code = resp.StatusCode
			_ = resp.Body.Close() // a response body: nothing to lose
		}
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, want %d within %s", url, code, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpClient does not wait long for a process that stopped answering.
var httpClient = &http.Client{Timeout: 5 * time.Second}
