//go:build linux

package probe

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

const emfileChildEnv = "VIGIL_PROBE_EMFILE_CHILD"

// A process out of descriptors cannot open a socket: its http, tcp and
// grpc probes are skipped (fd_limit), not failed. The test runs in a
// child process of its own, whose open-file limit it lowers and fills.
func TestOutOfDescriptorsSkipsProbes(t *testing.T) {
	if os.Getenv(emfileChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfDescriptorsSkipsProbes$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestOutOfDescriptorsSkipsProbes") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	addr := srv.addr()
	type probeCase struct {
		kind upstreams.ProbeKind
		c    Checker
		req  *Request
	}
	var cases []probeCase
	for _, p := range []*upstreams.Probe{httpProbe("/"), {Kind: upstreams.KindTCP}, {Kind: upstreams.KindGRPC}} {
		cases = append(cases, probeCase{p.Kind, mustChecker(t, p.Kind, "http", addr, CheckerOptions{}), mustRequest(t, p, addr, RequestOptions{})})
	}

	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	low := rl
	low.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			_ = f.Close() // read-only: nothing to lose
		}
		held = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Errorf("restore the open-file limit: %v", err)
		}
	}
	defer release()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !strings.Contains(err.Error(), "too many open files") {
				t.Fatalf("filling the descriptor table: %v", err)
			}
			break
		}
		held = append(held, f)
	}
	for _, pc := range cases {
		var r Response
		pc.c.Check(pc.req, time.Now().Add(probeTimeout), &Scratch{}, &r)
		if cause, ok := Skipped(r.Err); !ok || cause != SkipFDLimit {
			t.Errorf("%s probe out of descriptors: err %v, Skipped = %q %v; want %q", pc.kind, r.Err, cause, ok, SkipFDLimit)
		}
		if st := stats(t, pc.c); st.Failures != 0 || st.Skipped != 1 {
			t.Errorf("%s probe: stats %+v, want 1 skipped and no failure", pc.kind, st)
		}
	}
	release()
	for _, pc := range cases[:2] {
		var r Response
		pc.c.Check(pc.req, time.Now().Add(probeTimeout), &Scratch{}, &r)
		if r.Err != nil {
			t.Errorf("%s probe with descriptors again: %v", pc.kind, r.Err)
		}
	}
}
