package aggregator

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// hungServer accepts connections and never answers.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close() // test cleanup
		<-done
		for _, c := range conns {
			_ = c.Close() // test cleanup
		}
	})
	return ln.Addr().String()
}

// TestBadBackendsDoNotHurtGoodOnes: hung, garbage-speaking and huge-body
// backends fail with a reason that says why, while a good instance next to
// them keeps being probed on time by the few workers there are.
func TestBadBackendsDoNotHurtGoodOnes(t *testing.T) {
	good := seedtest.NewServer(t, seedtest.HealthzReady)
	garbage := seedtest.NewServer(t, seedtest.HealthzReady)
	garbage.SetRaw([]byte("SSH-2.0-OpenSSH_9.6\r\n\r\n"))
	huge := seedtest.NewServer(t, seedtest.Response{Name: "huge", Status: 200, ContentType: "application/json",
		Body: `{"status":"ok","pad":"` + strings.Repeat("x", 200<<10) + `"}`})
	redirect := seedtest.NewServer(t, seedtest.Response{Name: "redirect", Status: 302, Headers: [][2]string{{"Location", "/login"}}})
	hung := hungServer(t)

	h := newHarness(t)
	p := httpProbe("/readyz", upstreams.DialectHealthz)
	p.Timeout = 200 * time.Millisecond
	h.apply(upstreams.Cluster{Name: "mixed", InitialStatus: upstreams.InitialUnknown, Readiness: p,
		Instances: []upstreams.Instance{
			{ID: "a-good", Address: good.Addr()}, {ID: "b-hung", Address: hung},
			{ID: "c-garbage", Address: garbage.Addr()}, {ID: "d-huge", Address: huge.Addr()},
			{ID: "e-redirect", Address: redirect.Addr()},
		}})
	h.clock.Advance(time.Second) // every first probe is due within one interval
	select {
	case <-h.agg.FirstRound():
	case <-time.After(5 * time.Second):
		t.Fatal("first round not done")
	}
	want := map[string]string{
		"a-good":     "200 ready",
		"b-hung":     "timeout",
		"c-garbage":  "malformed",
		"d-huge":     "exceeds",
		"e-redirect": "302 redirect to /login (not followed)",
	}
	for id, reason := range want {
		m := h.member("mixed", id)
		wantStatus := membership.StatusUnhealthy
		if id == "a-good" {
			wantStatus = membership.StatusHealthy
		}
		if m.Status != wantStatus || !strings.Contains(m.Reason, reason) {
			t.Errorf("%s: %s %q, want %s containing %q", id, m.Status, m.Reason, wantStatus, reason)
		}
	}
	// The good instance's connection survived its neighbours' failures.
	results := func() int {
		d, _ := h.agg.Instance("mixed", "a-good")
		return len(d.Readiness.History)
	}
	for range 3 {
		n := results()
		h.clock.Advance(time.Second)
		eventually(t, "the good instance's next result", func() bool { return results() > n })
	}
	if results() < 4 || good.Accepts() != 1 {
		t.Errorf("good instance: %d results, %d connections", results(), good.Accepts())
	}
}
