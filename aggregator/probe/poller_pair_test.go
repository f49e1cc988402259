//go:build linux

package probe

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// pairTarget is one checker on a Poller with two probes of the same
// instance, /live and /ready, as the aggregator pairs them.
type pairTarget struct {
	p         *Poller
	c         Checker
	live, rdy polledFlight
}

type polledFlight struct {
	req  *Request
	f    Flight
	done chan Response
}

func newPairTarget(t *testing.T, addr string) *pairTarget {
	t.Helper()
	return newPairTargetOn(t, addr, NewPoller(nil, nil), func() {})
}

// newPairTargetOn is newPairTarget on p, with onDone called in every Done.
func newPairTargetOn(t *testing.T, addr string, p *Poller, onDone func()) *pairTarget {
	t.Helper()
	pt := &pairTarget{p: p, c: mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{Poller: p})}
	t.Cleanup(p.Close) // after the checker's Close
	for path, pf := range map[string]*polledFlight{"/live": &pt.live, "/ready": &pt.rdy} {
		pf.req = mustRequest(t, httpProbe(path), addr, RequestOptions{})
		pf.done = make(chan Response, 1)
		pf.f.Done = func(f *Flight) {
			onDone()
			r := f.Resp
			r.Body = append([]byte(nil), r.Body...)
			pf.done <- r
		}
	}
	// The first probe dials the blocking way; the connection then joins
	// the poller.
	var r Response
	pt.c.Check(pt.live.req, time.Now().Add(probeTimeout), &Scratch{}, &r)
	if r.Err != nil {
		t.Fatalf("first probe: %v", r.Err)
	}
	return pt
}

// startPair starts both probes in one write; false: not on the poller.
func (pt *pairTarget) startPair(timeout time.Duration) bool {
	for _, pf := range []*polledFlight{&pt.live, &pt.rdy} {
		pf.f.Req, pf.f.Deadline = pf.req, time.Now().Add(timeout)
	}
	return pt.c.(AsyncChecker).StartPair(&pt.live.f, &pt.rdy.f)
}

func (pf *polledFlight) wait(t *testing.T, within time.Duration) Response {
	t.Helper()
	select {
	case r := <-pf.done:
		return r
	case <-time.After(within):
		t.Fatalf("Done not called within %s", within)
		return Response{}
	}
}

// pathAnswer answers with the request's path as the body.
func pathAnswer(requestLine string, extra string) string {
	path := strings.Fields(requestLine + " ? ?")[1]
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", len(path), extra, path)
}

// A pair goes out in one write and each probe gets its own answer, whether
// the server answers both at once or one after the other.
func TestPollerPairSendsBothRequestsInOneWrite(t *testing.T) {
	for _, together := range []bool{true, false} {
		t.Run(fmt.Sprintf("answers together=%v", together), func(t *testing.T) {
			var sameRead, pairs atomic.Int32
			srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
				for {
					first := readRequest(br)
					if first == "" {
						return
					}
					if br.Buffered() == 0 { // a single request (the first probe)
						_, _ = conn.Write([]byte(pathAnswer(first, ""))) // a failed write shows in what the client gets
						continue
					}
					sameRead.Add(1) // the second request came in the same read
					second := readRequest(br)
					pairs.Add(1)
					if together {
						_, _ = conn.Write([]byte(pathAnswer(first, "") + pathAnswer(second, ""))) // a failed write shows in what the client gets
						continue
					}
					_, _ = conn.Write([]byte(pathAnswer(first, ""))) // a failed write shows in what the client gets
					time.Sleep(50 * time.Millisecond)
					_, _ = conn.Write([]byte(pathAnswer(second, ""))) // a failed write shows in what the client gets
				}
			})
			pt := newPairTarget(t, srv.addr())
			for i := range 5 {
				if !pt.startPair(probeTimeout) {
					t.Fatalf("pair %d not started on the poller", i)
				}
				live, rdy := pt.live.wait(t, 2*probeTimeout), pt.rdy.wait(t, 2*probeTimeout)
				if live.Err != nil || string(live.Body) != "/live" || rdy.Err != nil || string(rdy.Body) != "/ready" {
					t.Fatalf("pair %d: live %q %v, ready %q %v", i, live.Body, live.Err, rdy.Body, rdy.Err)
				}
				if live.Latency <= 0 || rdy.Latency < live.Latency && !together {
					t.Fatalf("pair %d: latencies %s and %s", i, live.Latency, rdy.Latency)
				}
			}
			st := stats(t, pt.c)
			if st.Pipelined != 5 || st.Probes != 11 || st.Dials != 1 || srv.accepts.Load() != 1 || st.NoPipelining {
				t.Fatalf("stats %+v, accepts %d: want 5 pairs on the one connection", st, srv.accepts.Load())
			}
			if sameRead.Load() != 5 {
				t.Fatalf("the server read %d of 5 pairs in one read", sameRead.Load())
			}
		})
	}
}

// A server that reads one request per read and drops the rest never
// answers the pipelined one. That probe is not failed: it gets a try of its
// own with a full timeout, and the checker stops pipelining.
func TestPollerPairToAServerThatDropsPipelinedRequests(t *testing.T) {
	srv := newRawServer(t, func(conn net.Conn, _ *bufio.Reader) {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			_, _ = conn.Write([]byte(pathAnswer(line, ""))) // a failed write shows in what the client gets
		}
	})
	pt := newPairTarget(t, srv.addr())
	const timeout = 300 * time.Millisecond
	start := time.Now()
	if !pt.startPair(timeout) {
		t.Fatal("pair not started on the poller")
	}
	live, rdy := pt.live.wait(t, probeTimeout), pt.rdy.wait(t, probeTimeout)
	if live.Err != nil || string(live.Body) != "/live" {
		t.Fatalf("live: %q %v", live.Body, live.Err)
	}
	if rdy.Err != nil || string(rdy.Body) != "/ready" {
		t.Fatalf("ready: %q %v, want it answered on a try of its own", rdy.Body, rdy.Err)
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("ready answered after %s, before its first try timed out", took)
	}
	if st := stats(t, pt.c); !st.NoPipelining {
		t.Fatalf("stats %+v: pipelining still on", st)
	}
	if pt.startPair(probeTimeout) {
		t.Fatal("a pair started after the server was seen to drop pipelined requests")
	}
}

// serveNumbered answers each request on a connection through answer,
// which gets the request's number across connections (from 1) and its
// request line; answer returns false to close the connection.
func serveNumbered(answer func(n int32, line string, conn net.Conn) bool) func(net.Conn, *bufio.Reader) {
	var count atomic.Int32
	return func(conn net.Conn, br *bufio.Reader) {
		for line := readRequest(br); line != ""; line = readRequest(br) {
			if !answer(count.Add(1), line, conn) {
				return
			}
		}
	}
}

// pairAnswered starts a pair and checks that each probe got its own answer.
func (pt *pairTarget) pairAnswered(t *testing.T) {
	t.Helper()
	if !pt.startPair(probeTimeout) {
		t.Fatal("pair not started on the poller")
	}
	live, rdy := pt.live.wait(t, 2*probeTimeout), pt.rdy.wait(t, 2*probeTimeout)
	if live.Err != nil || string(live.Body) != "/live" || rdy.Err != nil || string(rdy.Body) != "/ready" {
		t.Fatalf("live %q %v, ready %q %v", live.Body, live.Err, rdy.Body, rdy.Err)
	}
}

// A server that closes the connection after the first answer: the second
// probe goes again on a new connection.
func TestPollerPairWhenTheServerClosesAfterTheFirstAnswer(t *testing.T) {
	srv := newRawServer(t, serveNumbered(func(n int32, line string, conn net.Conn) bool {
		if n == 2 { // the pair's first: answer, then close
			_, _ = conn.Write([]byte(pathAnswer(line, "Connection: close\r\n"))) // a failed write shows in what the client gets
			return false
		}
		_, _ = conn.Write([]byte(pathAnswer(line, ""))) // a failed write shows in what the client gets
		return true
	}))
	pt := newPairTarget(t, srv.addr())
	pt.pairAnswered(t)
	if srv.accepts.Load() != 2 {
		t.Fatalf("%d connections, want the second probe on a new one", srv.accepts.Load())
	}
	if stats(t, pt.c).NoPipelining {
		t.Fatal("a closing server turned pipelining off")
	}
}

// readyInPieces answers /ready in two pieces 100 ms apart, anything else
// at once.
func readyInPieces(_ int32, line string, conn net.Conn) bool {
	a := pathAnswer(line, "")
	if !strings.Contains(line, "/ready") { // the first probe, and every pair's first
		_, _ = conn.Write([]byte(a)) // a failed write shows in what the client gets
		return true
	}
	_, _ = conn.Write([]byte(a[:30])) // a failed write shows in what the client gets
	time.Sleep(100 * time.Millisecond)
	_, _ = conn.Write([]byte(a[30:])) // a failed write shows in what the client gets
	return true
}

// The second answer in pieces is finished the blocking way, on the
// connection it began on, with the bytes the poller had read of it.
func TestPollerPairSecondAnswerInPieces(t *testing.T) {
	srv := newRawServer(t, serveNumbered(readyInPieces))
	pt := newPairTarget(t, srv.addr())
	// A loop slower than the server's pause (a loaded machine) reads both
	// pieces at once, and nothing is handed over: try again.
	for attempt := 0; !handedOver(pt.c); attempt++ {
		if attempt == 5 {
			t.Fatal("no answer in pieces reached the poller in 5 pairs")
		}
		pt.pairAnswered(t)
	}
	if srv.accepts.Load() != 1 {
		t.Fatalf("%d connections: the answer in pieces was not finished on its own connection", srv.accepts.Load())
	}
}

// Every Done, also that of a probe the poller finished the blocking way
// (an answer in pieces, then a retry on a new connection), runs on the
// goroutine that runs afterRound: the aggregator commits a round's
// results there, once they are all in.
func TestPollerCallsDoneOnItsOwnGoroutine(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint64]string{} // goroutine: what ran on it
	record := func(what string) {
		mu.Lock()
		seen[goroutineID()] += what
		mu.Unlock()
	}
	srv := newRawServer(t, serveNumbered(readyInPieces))
	p := NewPoller(nil, func() bool { record("r"); return false })
	pt := newPairTargetOn(t, srv.addr(), p, func() { record("d") })
	record("-") // the test's own goroutine
	for attempt := 0; !handedOver(pt.c); attempt++ {
		if attempt == 5 {
			t.Fatal("no answer in pieces reached the poller in 5 pairs")
		}
		pt.pairAnswered(t)
	}
	eventually(t, "afterRound after the last Done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, what := range seen {
			if strings.HasSuffix(what, "d") {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("Done and afterRound ran on %d goroutines (%v), want the poller's alone", len(seen)-1, seen)
	}
}

// goroutineID is the calling goroutine's number, from its stack header.
func goroutineID() uint64 {
	var b [64]byte
	f := strings.Fields(string(b[:runtime.Stack(b[:], false)])) // "goroutine 7 [running]:"
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}
