package probe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// budgetTarget is an HTTP checker under a budget, probing a server that
// counts its connections.
type budgetTarget struct {
	srv *rawServer
	c   Checker
	req *Request
}

func newBudgetTarget(t *testing.T, b *fdbudget.Budget) *budgetTarget {
	t.Helper()
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	return &budgetTarget{srv: srv,
		c:   mustChecker(t, upstreams.KindHTTP, "http", srv.addr(), CheckerOptions{Budget: b}),
		req: mustRequest(t, httpProbe("/ready"), srv.addr(), RequestOptions{})}
}

func (bt *budgetTarget) probe(t *testing.T) Response {
	t.Helper()
	var r Response
	bt.c.Check(bt.req, time.Now().Add(probeTimeout), &Scratch{}, &r)
	return r
}

// An instance address with a kept slot keeps its connection; one without
// probes on a connection of its own per probe, closed after it; once a
// kept slot is free again, the next dial takes it.
func TestBudgetKeepsWhatFitsAndProbesTheRestShortLived(t *testing.T) {
	b := fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 7, Kept: 1, ShortLived: 2})
	kept, short := newBudgetTarget(t, b), newBudgetTarget(t, b)
	for i := range 3 {
		for _, bt := range []*budgetTarget{kept, short} {
			if r := bt.probe(t); r.Err != nil || r.StatusCode != 200 {
				t.Fatalf("probe %d: %d %v", i, r.StatusCode, r.Err)
			}
		}
	}
	if n := kept.srv.accepts.Load(); n != 1 {
		t.Errorf("the kept address was dialed %d times for 3 probes, want 1", n)
	}
	if n := short.srv.accepts.Load(); n != 3 {
		t.Errorf("the short-lived address was dialed %d times for 3 probes, want 3", n)
	}
	if st := stats(t, short.c); st.ShortLived != 3 || st.Failures != 0 {
		t.Errorf("short-lived checker stats %+v", st)
	}
	if st := b.Stats(); st.KeptInUse != 1 || st.ShortLivedInUse != 0 || st.ShortLivedTotal != 3 {
		t.Errorf("budget after the probes: %+v (every short-lived slot must be back)", st)
	}
	eventually(t, "the short-lived connections closed at the server", func() bool {
		short.srv.mu.Lock()
		defer short.srv.mu.Unlock()
		return len(short.srv.conns) == 0
	})

	if err := kept.c.Close(); err != nil { // its address left the fleet: its slot is free
		t.Fatal(err)
	}
	for range 3 {
		if r := short.probe(t); r.Err != nil {
			t.Fatalf("probe after the kept slot freed: %v", r.Err)
		}
	}
	if n := short.srv.accepts.Load(); n != 4 {
		t.Errorf("after a kept slot freed, 3 probes dialed %d times, want 1 (kept from then on)", n-3)
	}
	if st := b.Stats(); st.KeptInUse != 1 {
		t.Errorf("kept slots in use %d, want 1", st.KeptInUse)
	}
	if err := short.c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.KeptInUse != 0 || st.ShortLivedInUse != 0 {
		t.Errorf("slots held after every checker closed: %+v", st)
	}
}

// With no slot free, a probe that needs a connection is skipped: it never
// dials, and its error is vigil's, not the target's.
func TestBudgetWithoutSlotsSkipsTheProbe(t *testing.T) {
	b := fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 9, Kept: 0, ShortLived: 1})
	if !b.Short() { // someone else's probe holds the only short-lived slot
		t.Fatal("no short-lived slot to take")
	}
	bt := newBudgetTarget(t, b)
	r := bt.probe(t)
	if cause, ok := Skipped(r.Err); !ok || cause != SkipFDBudget {
		t.Fatalf("probe without a slot: err %v, Skipped = %q %v; want fd_budget", r.Err, cause, ok)
	}
	tcp := mustChecker(t, upstreams.KindTCP, "", bt.srv.addr(), CheckerOptions{Budget: b})
	var tr Response
	tcp.Check(mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, bt.srv.addr(), RequestOptions{}), time.Now().Add(probeTimeout), nil, &tr)
	if cause, ok := Skipped(tr.Err); !ok || cause != SkipFDBudget {
		t.Fatalf("tcp probe without a slot: err %v, Skipped = %q %v", tr.Err, cause, ok)
	}
	if n := bt.srv.accepts.Load(); n != 0 {
		t.Errorf("skipped probes dialed %d times", n)
	}
	for _, c := range []Checker{bt.c, tcp} {
		if st := stats(t, c); st.Skipped != 1 || st.Failures != 0 {
			t.Errorf("%T stats %+v: want 1 skipped, 0 failures", c, st)
		}
	}
	b.Unshort()
	if r := bt.probe(t); r.Err != nil {
		t.Fatalf("probe once a slot is free: %v", r.Err)
	}
}

// A short-lived connection is reset when closed, not closed gracefully:
// the server reads a reset, not an end of stream, so vigil's side leaves
// no TIME_WAIT socket behind. The same holds for a tcp probe's connect.
func TestShortLivedConnectionsAreReset(t *testing.T) {
	b := fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 8, Kept: 0, ShortLived: 2})
	ended := make(chan error, 4)
	srv := newRawServer(t, func(conn net.Conn, _ *bufio.Reader) {
		_ = conn.SetReadDeadline(time.Now().Add(probeTimeout)) // without it the read ends when the test closes the server
		buf := make([]byte, 4096)
		for { // answer the request (an http probe's), then see how the client lets go
			n, err := conn.Read(buf)
			if err != nil {
				ended <- err
				return
			}
			if bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) // a failed write shows in what the client gets
			}
		}
	})
	c := mustChecker(t, upstreams.KindHTTP, "http", srv.addr(), CheckerOptions{Budget: b})
	var r Response
	c.Check(mustRequest(t, httpProbe("/"), srv.addr(), RequestOptions{}), time.Now().Add(probeTimeout), &Scratch{}, &r)
	if r.Err != nil {
		t.Fatalf("probe: %v", r.Err)
	}
	tcp := mustChecker(t, upstreams.KindTCP, "", srv.addr(), CheckerOptions{Budget: b})
	tcp.Check(mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, srv.addr(), RequestOptions{}), time.Now().Add(probeTimeout), nil, &r)
	if r.Err != nil {
		t.Fatalf("tcp probe: %v", r.Err)
	}
	for _, what := range []string{"http", "tcp"} {
		if err := <-ended; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: the server read %v after the probe, want a reset (ECONNRESET), not %v", what, err, io.EOF)
		}
	}
}
