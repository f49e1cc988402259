package probe

import (
	"bufio"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// probeTimeout is generous: the test machine is shared and loaded.
const probeTimeout = 5 * time.Second

// rawServer is a loopback TCP server whose per-connection behaviour is a
// plain function, for writing hand-crafted (and broken) HTTP.
type rawServer struct {
	ln      net.Listener
	accepts atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

func newRawServer(t testing.TB, handle func(conn net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &rawServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // out of descriptors (a test made it so): go on, as servers do
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, conn)
					s.mu.Unlock()
					_ = conn.Close() // the handler is done: nothing to lose
				}()
				handle(conn, bufio.NewReader(conn))
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// close stops accepting, closes open connections and waits for handlers.
func (s *rawServer) close() {
	_ = s.ln.Close() // stopping is the point: nothing to lose
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close() // likewise
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads one request head; it returns the request line, or ""
// when the client went away.
func readRequest(br *bufio.Reader) string {
	first := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ""
		}
		line = strings.TrimRight(line, "\r\n")
		if first == "" {
			first = line
			continue
		}
		if line == "" {
			return first
		}
	}
}

// serveEach answers every request on a connection with the same bytes.
func serveEach(resp string) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		for readRequest(br) != "" {
			if _, err := conn.Write([]byte(resp)); err != nil {
				return
			}
		}
	}
}

func httpProbe(path string) *upstreams.Probe {
	return &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: path}
}

func mustRequest(t testing.TB, p *upstreams.Probe, hostport string, opts RequestOptions) *Request {
	t.Helper()
	r, err := NewRequest(p, hostport, opts)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	return r
}

func mustChecker(t testing.TB, kind upstreams.ProbeKind, scheme, hostport string, opts CheckerOptions) Checker {
	t.Helper()
	c, err := NewChecker(kind, scheme, hostport, opts)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() }) // test cleanup
	return c
}

// httpTarget is a checker plus a prepared GET for one path.
type httpTarget struct {
	c   Checker
	req *Request
	s   Scratch
}

func newHTTPTarget(t testing.TB, addr, path string) *httpTarget {
	t.Helper()
	return &httpTarget{
		c:   mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{}),
		req: mustRequest(t, httpProbe(path), addr, RequestOptions{}),
	}
}

// probe runs one check with the given timeout and returns a copy of the
// response whose Body no longer aliases the scratch buffer.
func (h *httpTarget) probe(timeout time.Duration) Response {
	var r Response
	h.c.Check(h.req, time.Now().Add(timeout), &h.s, &r)
	r.Body = append([]byte(nil), r.Body...)
	return r
}

func stats(t testing.TB, c Checker) Stats {
	t.Helper()
	sr, ok := c.(StatsReporter)
	if !ok {
		t.Fatalf("%T does not report stats", c)
	}
	return sr.Stats()
}

// eventually polls cond until it holds or a generous limit passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nowPlus(d time.Duration) time.Time { return time.Now().Add(d) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
