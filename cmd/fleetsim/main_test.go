package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/fleet"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRun runs fleetsim in-process: instances file, control API, probes,
// and a clean return when the context ends.
func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fleet.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 1)
	errc := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		errc <- run(ctx, []string{"-n", "14", "-formats", "all", "-id-prefix", "a-", "-instances-out", out, "-slow-delay", "1s"}, logs, started)
	}()
	var control string
	select {
	case control = <-started:
	case err := <-errc:
		t.Fatalf("run: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("fleetsim did not start:\n%s", logs)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var entries []fleet.FileEntry
	if err := yaml.Unmarshal(b, &entries); err != nil {
		t.Fatalf("instances file: %v\n%s", err, b)
	}
	if len(entries) != 14 || entries[0].ID != "a-0" || entries[6].Meta["format"] != "grpc" || entries[2].Meta["format"] != "healthz" {
		t.Fatalf("instances file:\n%s", b)
	}

	hz := entries[2]
	probe := func() int {
		t.Helper()
		resp, err := http.Get("http://" + hz.Address + hz.Meta["readiness_path"])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // only the status is wanted
		_ = resp.Body.Close()                 // a response body: nothing to lose
		return resp.StatusCode
	}
	if code := probe(); code != 200 {
		t.Errorf("ready healthz: %d", code)
	}
	resp, err := http.Post("http://"+control+"/flip", "application/json", strings.NewReader(`{"ids":["a-2"],"state":"notready"}`))
	if err != nil {
		t.Fatal(err)
	}
	var flips []fleet.Flip
	err = json.NewDecoder(resp.Body).Decode(&flips)
	_ = resp.Body.Close() // read: nothing to lose
	if err != nil || resp.StatusCode != 200 || len(flips) != 1 || flips[0].To != fleet.StateNotReady {
		t.Fatalf("flip: %d %+v %v", resp.StatusCode, flips, err)
	}
	if code := probe(); code != 503 {
		t.Errorf("notready healthz: %d", code)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
		if !strings.Contains(logs.String(), "fleet: closed") {
			t.Errorf("no clean shutdown in log:\n%s", logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if _, err := http.Get("http://" + hz.Address + "/healthz"); err == nil {
		t.Error("instance still serving after shutdown")
	}
}

// TestTooManyInstances checks the clear error when N exceeds the fd budget.
func TestTooManyInstances(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"-n", "100000000"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "fewer instances") {
		t.Fatalf("run -n 1e8: %v, want an RLIMIT_NOFILE error", err)
	}
}

// TestBadFlags checks flag validation.
func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-formats", "dynamo,bogus"},
		{"-initial", "sideways"},
		{"-host", "10.0.0.1"},
		{"-log-level", "loud"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run %v succeeded", args)
		}
	}
}

// TestBinarySignals builds fleetsim and runs it as a process with a low soft
// open-file limit: it must raise the limit, serve, and exit 0 on SIGTERM.
func TestBinarySignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetsim")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var hard syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard); err != nil {
		t.Fatal(err)
	}
	if hard.Max < 2000 {
		t.Skipf("hard open-file limit %d too low", hard.Max)
	}
	out := filepath.Join(dir, "fleet.json")
	// 300 instances need ~964 files; the soft limit starts at 256.
	cmd := exec.Command("bash", "-c", `ulimit -Sn 256 && exec "$0" "$@"`, bin, "-n", "300", "-instances-out", out, "-port-base", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // the child may have exited already
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log bytes.Buffer
	limitRe := regexp.MustCompile(`open file limit" soft=(\d+)`)
	var soft string
	deadline := time.After(60 * time.Second)
	for started := false; !started; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("fleetsim exited early:\n%s", log.String())
			}
			log.WriteString(l + "\n")
			if m := limitRe.FindStringSubmatch(l); m != nil {
				soft = m[1]
			}
			started = strings.Contains(l, "control API listening")
		case <-deadline:
			t.Fatalf("fleetsim did not start:\n%s", log.String())
		}
	}
	if soft == "256" || soft == "" {
		t.Errorf("soft limit %q not raised:\n%s", soft, log.String())
	}
	if !strings.Contains(log.String(), "raised_by_fleetsim=false") {
		t.Errorf("the Go runtime did not raise the soft limit itself:\n%s", log.String())
	}
	var entries []fleet.FileEntry
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &entries); err != nil || len(entries) != 300 {
		t.Fatalf("instances file: %d entries, %v", len(entries), err)
	}
	resp, err := http.Get("http://" + entries[299].Address + entries[299].Meta["readiness_path"])
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	_ = resp.Body.Close() // a response body: nothing to lose
	if resp.StatusCode != 200 {
		t.Errorf("probe: %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		log.WriteString(l + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("fleetsim exit: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "fleet: closed") {
		t.Errorf("no clean shutdown in log:\n%s", log.String())
	}
}
