//go:build unix

package fleet

import (
	"github.com/vigilhq/vigil/internal/benchproc"

	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load of BenchmarkServe comes from a child process (this test binary
// re-run with benchClientEnv set), so cpu-us/req counts the fleet only.
const benchClientEnv = "VIGIL_FLEET_BENCH_CLIENT"

// benchSizeEnv overrides BenchmarkServe's size as "instances:interval",
// e.g. "4500:500ms" for 18,000 requests/s over 9,000 connections.
const benchSizeEnv = "VIGIL_FLEET_BENCH"

// BenchmarkServe probes every instance's liveness and readiness path on two
// keep-alive connections, each once per interval with the phases spread
// evenly, like vigil does, and reports the fleet process's CPU per request
// over a 10s window after a warm-up. The default is 1,000 instances every
// second (2,000 requests/s); set VIGIL_FLEET_BENCH to change it.
func BenchmarkServe(b *testing.B) {
	n, interval := 1000, time.Second
	if v := os.Getenv(benchSizeEnv); v != "" {
		ns, is, _ := strings.Cut(v, ":")
		var err error
		if n, err = strconv.Atoi(ns); err != nil {
			b.Fatalf("%s: %v", benchSizeEnv, err)
		}
		if interval, err = time.ParseDuration(is); err != nil {
			b.Fatalf("%s: %v", benchSizeEnv, err)
		}
	}
	const warm, window = 3 * time.Second, 10 * time.Second
	f, err := Start(context.Background(), Spec{N: n})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // test cleanup
	cl := startBenchClient(b, f.Instances(), interval)
	time.Sleep(warm)
	cpu0, n0 := benchproc.CPU(), cl.mark()
	t0 := time.Now()
	time.Sleep(window)
	cpu1, n1 := benchproc.CPU(), cl.mark()
	took := time.Since(t0)
	reqs := n1 - n0
	if reqs <= 0 {
		b.Fatal("no requests answered")
	}
	want := float64(2*n) * took.Seconds() / interval.Seconds()
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(reqs)/1e3, "cpu-us/req")
	b.ReportMetric(float64(reqs)/took.Seconds(), "req/s")
	b.ReportMetric(100*float64(reqs)/want, "achieved-%")
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(took.Nanoseconds()), "cores")
}

// benchClient is the load generator child process.
type benchClient struct {
	in  io.Writer
	out *bufio.Scanner
}

// startBenchClient starts the child probing every instance's two paths.
func startBenchClient(b *testing.B, insts []Instance, interval time.Duration) *benchClient {
	b.Helper()
	child := benchproc.Start(b, "TestBenchClientProcess", benchClientEnv+"=1")
	stdin := child.Stdin
	w := bufio.NewWriter(stdin)
	// bufio keeps the first write error for Flush, checked below.
	_, _ = fmt.Fprintf(w, "interval %s\n", interval)
	for _, in := range insts {
		_, _ = fmt.Fprintf(w, "target %s %s\ntarget %s %s\n", in.Address, in.LivenessPath, in.Address, in.ReadinessPath)
	}
	_, _ = fmt.Fprintln(w, "go")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	cl := &benchClient{in: stdin, out: child.Out}
	if line := cl.line(b); line != "running" {
		b.Fatalf("bench client: %q", line)
	}
	return cl
}

func (c *benchClient) line(b *testing.B) string {
	if !c.out.Scan() {
		b.Fatalf("bench client ended: %v", c.out.Err())
	}
	return c.out.Text()
}

// mark returns how many requests the child has had answered so far.
func (c *benchClient) mark() int64 {
	if _, err := fmt.Fprintln(c.in, "mark"); err != nil {
		return -1 // the child is gone, as when it stops answering
	}
	if !c.out.Scan() {
		return -1
	}
	n, _ := strconv.ParseInt(strings.TrimPrefix(c.out.Text(), "count "), 10, 64)
	return n
}

// TestBenchClientProcess is the child of BenchmarkServe: it reads its
// targets from stdin, probes them until stdin closes and answers "mark"
// lines with the number of answered requests.
func TestBenchClientProcess(t *testing.T) {
	if os.Getenv(benchClientEnv) == "" {
		t.Skip("helper process for BenchmarkServe")
	}
	sc := bufio.NewScanner(os.Stdin)
	var interval time.Duration
	type target struct{ addr, path string }
	var targets []target
	for sc.Scan() && sc.Text() != "go" {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 2 && fields[0] == "interval":
			interval, _ = time.ParseDuration(fields[1])
		case len(fields) == 3 && fields[0] == "target":
			targets = append(targets, target{fields[1], fields[2]})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	start := time.Now().Add(500 * time.Millisecond)
	for i, tg := range targets {
		conn, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatalf("dial %s: %v", tg.addr, err)
		}
		req := []byte("GET " + tg.path + " HTTP/1.1\r\nHost: " + tg.addr + "\r\nUser-Agent: vigil\r\nAccept: */*\r\n\r\n")
		first := start.Add(interval * time.Duration(i) / time.Duration(len(targets)))
		wg.Go(func() {
			// Closing unblocks the read and ends the client: nothing to lose.
			defer conn.Close() //nolint:errcheck // see above
			context.AfterFunc(ctx, func() { _ = conn.Close() })
			buf := make([]byte, 4096)
			for next := first; ctx.Err() == nil; next = next.Add(interval) {
				time.Sleep(time.Until(next))
				if _, err := conn.Write(req); err != nil {
					failed.Add(1)
					return
				}
				if err := readResponse(conn, buf); err != nil {
					failed.Add(1)
					return
				}
				done.Add(1)
			}
		})
	}
	fmt.Println("running")
	for sc.Scan() {
		if sc.Text() == "mark" {
			fmt.Printf("count %d\n", done.Load())
		}
	}
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench client: %d connections failed\n", n)
	}
}

// readResponse reads one response with a Content-Length body into buf.
func readResponse(conn net.Conn, buf []byte) error {
	have := 0
	for {
		n, err := conn.Read(buf[have:])
		have += n
		if end := bytes.Index(buf[:have], []byte("\r\n\r\n")); end >= 0 {
			head := buf[:end]
			i := bytes.Index(head, []byte("Content-Length: "))
			if i < 0 {
				return errors.New("no content-length")
			}
			j := i + len("Content-Length: ")
			k := bytes.IndexByte(head[j:], '\r')
			if k < 0 {
				k = len(head) - j
			}
			cl, _ := strconv.Atoi(string(head[j : j+k]))
			total := end + 4 + cl
			for have < total {
				m, err := conn.Read(buf[have:])
				have += m
				if err != nil {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if have == len(buf) {
			return errors.New("response head too large")
		}
	}
}
