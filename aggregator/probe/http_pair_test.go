package probe

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// blockingPair is an instance's /live and /ready probes on one checker,
// run with CheckPair.
type blockingPair struct {
	c          Checker
	live, rdy  *Request
	s1, s2     Scratch
	rLive, rRd Response
}

func newBlockingPair(t *testing.T, addr string, opts CheckerOptions) *blockingPair {
	t.Helper()
	return &blockingPair{c: mustChecker(t, upstreams.KindHTTP, "http", addr, opts),
		live: mustRequest(t, httpProbe("/live"), addr, RequestOptions{}),
		rdy:  mustRequest(t, httpProbe("/ready"), addr, RequestOptions{})}
}

// run runs the pair and checks that each probe got its own answer.
func (bp *blockingPair) run(t *testing.T, timeout time.Duration) {
	t.Helper()
	bp.rLive, bp.rRd = Response{}, Response{}
	bp.c.(PairChecker).CheckPair(bp.live, bp.rdy, time.Now().Add(timeout), &bp.s1, &bp.s2, &bp.rLive, &bp.rRd)
	if bp.rLive.Err != nil || string(bp.rLive.Body) != "/live" || bp.rRd.Err != nil || string(bp.rRd.Body) != "/ready" {
		t.Fatalf("pair: live %q %v, ready %q %v", bp.rLive.Body, bp.rLive.Err, bp.rRd.Body, bp.rRd.Err)
	}
}

// pairServer answers every request with its path; firstOnly answers only
// the first request of each read (a server that drops pipelined ones),
// closeAfter sends Connection: close with every answer.
func pairServer(t *testing.T, firstOnly, closeAfter bool, together *atomic.Int32) *rawServer {
	extra := ""
	if closeAfter {
		extra = "Connection: close\r\n"
	}
	return newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for {
			req := readRequest(br)
			if req == "" {
				return
			}
			pipelined := br.Buffered() > 0
			if pipelined {
				together.Add(1)
			}
			_, _ = conn.Write([]byte(pathAnswer(req, extra))) // a failed write shows in what the client gets
			switch {
			case closeAfter:
				return
			case firstOnly && pipelined:
				_, _ = br.Discard(br.Buffered()) // discards what is buffered: cannot fail
			}
		}
	})
}

// A pair on short-lived connections costs one connection, both requests
// in one write; a kept pair reuses its connection.
func TestCheckPairOneConnectionOneWrite(t *testing.T) {
	for _, short := range []bool{true, false} {
		var together atomic.Int32
		srv := pairServer(t, false, false, &together)
		var b *fdbudget.Budget
		if short {
			b = fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 9, Kept: 0, ShortLived: 1})
		}
		bp := newBlockingPair(t, srv.addr(), CheckerOptions{Budget: b})
		for range 3 {
			bp.run(t, probeTimeout)
		}
		wantAccepts := int64(1)
		if short {
			wantAccepts = 3
		}
		if n := srv.accepts.Load(); n != wantAccepts {
			t.Errorf("short=%v: 3 pairs took %d connections, want %d", short, n, wantAccepts)
		}
		if n := together.Load(); n != 3 {
			t.Errorf("short=%v: %d of 3 pairs arrived in one read", short, n)
		}
		if st := stats(t, bp.c); st.Probes != 6 || st.Pipelined != 3 || st.Failures != 0 {
			t.Errorf("short=%v: stats %+v", short, st)
		}
		if st := b.Stats(); st.ShortLivedInUse != 0 {
			t.Errorf("short-lived slots still held: %+v", st)
		}
	}
}

// A server that closes after the first answer, or that never answers a
// pipelined request, costs the second probe a try of its own, not a
// failure; the latter stops pipelining.
func TestCheckPairSecondUnanswered(t *testing.T) {
	t.Run("closed after the first answer", func(t *testing.T) {
		var together atomic.Int32
		srv := pairServer(t, false, true, &together)
		bp := newBlockingPair(t, srv.addr(), CheckerOptions{})
		bp.run(t, probeTimeout)
		if n := srv.accepts.Load(); n != 2 {
			t.Errorf("%d connections, want 2 (the second probe on its own)", n)
		}
	})
	t.Run("pipelined request dropped", func(t *testing.T) {
		var together atomic.Int32
		srv := pairServer(t, true, false, &together)
		bp := newBlockingPair(t, srv.addr(), CheckerOptions{})
		timeout := 300 * time.Millisecond
		bp.run(t, timeout)
		st := stats(t, bp.c)
		if !st.NoPipelining || st.Failures != 0 {
			t.Fatalf("stats %+v: want pipelining stopped and no failure", st)
		}
		start := time.Now()
		bp.run(t, timeout) // one request at a time now
		if took := time.Since(start); took >= timeout {
			t.Errorf("the next pair took %s: still pipelined?", took)
		}
		if n := together.Load(); n != 1 {
			t.Errorf("%d pairs pipelined, want 1 (none after the drop)", n)
		}
	})
}
