//go:build linux

package probe

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// polledTarget is a checker on a Poller plus a prepared GET; run probes
// through the poller the way the aggregator does.
type polledTarget struct {
	p    *Poller
	c    Checker
	req  *Request
	done chan Response
	f    Flight
}

func newPolledTarget(t *testing.T, addr, path string) *polledTarget {
	t.Helper()
	p := NewPoller(nil, nil)
	pt := &polledTarget{p: p, req: mustRequest(t, httpProbe(path), addr, RequestOptions{}), done: make(chan Response, 1)}
	pt.c = mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{Poller: p})
	t.Cleanup(p.Close) // after the checker's Close (cleanups run last first)
	pt.f.Done = func(f *Flight) {
		r := f.Resp
		r.Body = append([]byte(nil), r.Body...)
		pt.done <- r
	}
	return pt
}

// probe runs one probe through the poller when the checker can, else the
// blocking way, and reports which.
func (pt *polledTarget) probe(t *testing.T, timeout time.Duration) (Response, bool) {
	t.Helper()
	pt.f.Req, pt.f.Deadline = pt.req, time.Now().Add(timeout)
	if pt.c.(AsyncChecker).Start(&pt.f) {
		select {
		case r := <-pt.done:
			return r, true
		case <-time.After(timeout + 5*time.Second):
			t.Fatalf("Done not called %s after the deadline", 5*time.Second)
		}
	}
	var r Response
	var s Scratch
	pt.c.Check(pt.req, time.Now().Add(timeout), &s, &r)
	r.Body = append([]byte(nil), r.Body...)
	return r, false
}

// answerOnceThenHang is a server that answers the first request it gets
// and never the others (until the test ends).
func answerOnceThenHang(t *testing.T) *rawServer {
	hang := make(chan struct{})
	var n atomic.Int32
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for readRequest(br) != "" {
			if n.Add(1) > 1 {
				<-hang
				return
			}
			_, _ = conn.Write([]byte(okResponse)) // a failed write shows in what the client gets
		}
	})
	t.Cleanup(srv.close)
	t.Cleanup(func() { close(hang) }) // runs first: the server then waits for its handlers
	return srv
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"

// After the first probe dials, every probe goes through the poller on the
// same connection and reads the same answer the blocking path does.
func TestPollerKeepsOneConnection(t *testing.T) {
	srv := newRawServer(t, serveEach(okResponse))
	defer srv.close()
	pt := newPolledTarget(t, srv.addr(), "/healthz")
	first, polled := pt.probe(t, probeTimeout)
	if polled || first.Err != nil || first.StatusCode != 200 {
		t.Fatalf("first probe: polled=%v status=%d err=%v", polled, first.StatusCode, first.Err)
	}
	for i := range 50 {
		r, polled := pt.probe(t, probeTimeout)
		if !polled {
			t.Fatalf("probe %d did not go through the poller", i)
		}
		if r.Err != nil || r.StatusCode != 200 || string(r.Body) != `{"status":"ok"}` || r.ContentType != "application/json" || r.Latency <= 0 {
			t.Fatalf("probe %d: %+v body %q", i, r, r.Body)
		}
	}
	if st := stats(t, pt.c); st.Dials != 1 || srv.accepts.Load() != 1 || st.Probes != 51 {
		t.Fatalf("stats %+v, accepts %d: want one connection for 51 probes", st, srv.accepts.Load())
	}
}

// A server that never answers: the poller fails the probe at its deadline
// and the next probe dials again.
func TestPollerTimesOut(t *testing.T) {
	srv := answerOnceThenHang(t)
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	start := time.Now()
	r, polled := pt.probe(t, 300*time.Millisecond)
	took := time.Since(start)
	if !polled || r.Err == nil || !isTimeout(r.Err) {
		t.Fatalf("polled=%v err=%v, want a timeout from the poller", polled, r.Err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("timeout reported after %s, want about 300ms", took)
	}
	if r.Err.Error() != "timeout after 300ms awaiting response" {
		t.Fatalf("reason %q", r.Err)
	}
	if _, polled := pt.probe(t, 100*time.Millisecond); polled {
		t.Fatalf("the timed-out connection was kept")
	}
}

// An answer in pieces is finished the blocking way with what was already
// read; the connection then stays blocking.
func TestPollerHandsOverAnAnswerInPieces(t *testing.T) {
	var n atomic.Int32
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for readRequest(br) != "" {
			if n.Add(1) == 1 {
				_, _ = conn.Write([]byte(okResponse)) // a failed write shows in what the client gets
				continue
			}
			_, _ = conn.Write([]byte(okResponse[:40])) // a failed write shows in what the client gets
			time.Sleep(200 * time.Millisecond)
			_, _ = conn.Write([]byte(okResponse[40:])) // a failed write shows in what the client gets
		}
	})
	defer srv.close()
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	// A loop slower than the server's pause (a loaded machine) reads both
	// pieces at once, and nothing is handed over: try again.
	for attempt := 0; !handedOver(pt.c); attempt++ {
		if attempt == 5 {
			t.Fatal("no answer in pieces reached the poller in 5 attempts")
		}
		r, polled := pt.probe(t, probeTimeout)
		if !polled || r.Err != nil || r.StatusCode != 200 || string(r.Body) != `{"status":"ok"}` {
			t.Fatalf("polled=%v %+v body %q", polled, r, r.Body)
		}
	}
	r, polled := pt.probe(t, probeTimeout)
	if polled || r.Err != nil || r.StatusCode != 200 {
		t.Fatalf("after pieces: polled=%v %+v", polled, r)
	}
	if srv.accepts.Load() != 1 {
		t.Fatalf("%d connections, want the one kept throughout", srv.accepts.Load())
	}
}

// handedOver reports whether c's polled connection went back to the
// blocking path to finish an answer that came in pieces.
func handedOver(c Checker) bool {
	hc := c.(*httpChecker)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.piecemeal != nil
}

// A kept connection the server closed while idle: the poller notices, and
// the next probe dials.
func TestPollerDropsAConnectionClosedWhileIdle(t *testing.T) {
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) != "" {
			_, _ = conn.Write([]byte(okResponse)) // a failed write shows in what the client gets
		}
	}) // one answer per connection, then close without saying so
	defer srv.close()
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	eventually(t, "the poller drops the closed connection", func() bool {
		pt.c.(*httpChecker).mu.Lock()
		defer pt.c.(*httpChecker).mu.Unlock()
		return pt.c.(*httpChecker).pc == nil
	})
	r, polled := pt.probe(t, probeTimeout)
	if polled || r.Err != nil || r.StatusCode != 200 || srv.accepts.Load() != 2 {
		t.Fatalf("polled=%v %+v accepts=%d", polled, r, srv.accepts.Load())
	}
}

// Close with a probe in flight: Done still comes, with an error, and
// Poller.Close returns.
func TestPollerCloseWithAProbeInFlight(t *testing.T) {
	srv := answerOnceThenHang(t)
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	pt.f.Req, pt.f.Deadline = pt.req, time.Now().Add(probeTimeout)
	if !pt.c.(AsyncChecker).Start(&pt.f) {
		t.Fatal("not started on the poller")
	}
	if err := pt.c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-pt.done:
		if r.Err == nil {
			t.Fatalf("probe on a closed checker succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Done not called after Close")
	}
	closed := make(chan struct{})
	go func() { pt.p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Poller.Close hangs")
	}
}

// Close is safe to repeat, with or without connections, and a checker on a
// closed poller keeps probing the blocking way.
func TestPollerCloseTwice(t *testing.T) {
	NewPoller(nil, nil).Close() // never opened

	srv := newRawServer(t, serveEach(okResponse))
	defer srv.close()
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	pt.p.Close()
	pt.p.Close()
	r, polled := pt.probe(t, probeTimeout)
	if polled || r.Err != nil || r.StatusCode != 200 {
		t.Fatalf("after Close: polled=%v %+v", polled, r)
	}
}

// A Done that starts the next probe at once (the aggregator runs an
// instance's queued probe from the Done of the one before) finds the
// connection free even when the answer beat the request's writer, another
// goroutine, back to the lock: every probe stays on the one kept
// connection.
func TestPollerDoneStartsTheNextProbe(t *testing.T) {
	srv := newRawServer(t, serveEach(okResponse))
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	var blocked atomic.Int32
	var b Flight
	bDone := make(chan Response, 1)
	b.Done = func(f *Flight) { bDone <- f.Resp }
	pt.f.Done = func(f *Flight) { // on the poller's goroutine
		if f.Resp.Err != nil {
			t.Errorf("first probe: %v", f.Resp.Err)
		}
		b.Req, b.Deadline = pt.req, time.Now().Add(probeTimeout)
		if !pt.c.(AsyncChecker).Start(&b) {
			blocked.Add(1)
			var r Response
			pt.c.Check(pt.req, b.Deadline, &Scratch{}, &r)
			bDone <- r
		}
	}
	for i := range 200 {
		pt.f.Req, pt.f.Deadline = pt.req, time.Now().Add(probeTimeout)
		if !pt.c.(AsyncChecker).Start(&pt.f) { // written from this goroutine
			t.Fatalf("round %d: not started on the poller", i)
		}
		select {
		case r := <-bDone:
			if r.Err != nil {
				t.Fatalf("round %d: second probe: %v", i, r.Err)
			}
		case <-time.After(2 * probeTimeout):
			t.Fatalf("round %d: second probe not done", i)
		}
	}
	if st := stats(t, pt.c); blocked.Load() != 0 || st.Dials != 1 || srv.accepts.Load() != 1 {
		t.Fatalf("%d probes went the blocking way, stats %+v, accepts %d: want all on the one connection", blocked.Load(), st, srv.accepts.Load())
	}
}

// Polled decides which probes go through the poller: plain HTTP only. A
// checker that holds a polled connection still refuses to start a request
// Polled rules out, and the request's own answer is the same decision.
func TestPolledDecidesWhichProbesUseThePoller(t *testing.T) {
	for _, c := range []struct {
		kind   upstreams.ProbeKind
		scheme string
		want   bool
	}{
		{upstreams.KindHTTP, "http", true}, {upstreams.KindHTTP, "", true}, {"", "", true},
		{upstreams.KindHTTP, "https", false}, {upstreams.KindGRPC, "", false}, {upstreams.KindTCP, "", false},
	} {
		p := &upstreams.Probe{Kind: c.kind, Scheme: c.scheme, Path: "/"}
		if got := Polled(p); got != c.want {
			t.Errorf("Polled(kind %q, scheme %q) = %v, want %v", c.kind, c.scheme, got, c.want)
		}
		if r := mustRequest(t, p, "127.0.0.1:1", RequestOptions{}); r.Polled() != c.want {
			t.Errorf("NewRequest(kind %q, scheme %q).Polled() = %v, want %v", c.kind, c.scheme, r.Polled(), c.want)
		}
	}

	srv := newRawServer(t, serveEach(okResponse))
	defer srv.close()
	pt := newPolledTarget(t, srv.addr(), "/")
	pt.probe(t, probeTimeout)
	if _, polled := pt.probe(t, probeTimeout); !polled {
		t.Fatal("a plain HTTP probe on a kept connection did not go through the poller")
	}
	tlsProbe := httpProbe("/")
	tlsProbe.Scheme = "https"
	pt.req = mustRequest(t, tlsProbe, srv.addr(), RequestOptions{})
	if pt.c.(AsyncChecker).Start(&Flight{Req: pt.req, Deadline: time.Now().Add(probeTimeout), Done: pt.f.Done}) {
		t.Error("Start took a request that Polled rules out")
	}
}
