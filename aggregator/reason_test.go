package aggregator

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// An instance that fails from its first probe keeps its initial status,
// yet publishes that probe's reason, not "no probe result yet"; a new
// reason from the probe replaces it, a repeat does not (nothing is
// written), and none of it is a transition. What publishers read, the
// store's member, and the API's view say the same.
func TestThePublishedReasonIsTheCurrentOne(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzNotReady)
	h := newHarness(t)
	h.apply(upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
		Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "a", Address: srv.Addr()}}})
	since := h.member("api", "a").Since
	published := func(want string) {
		t.Helper()
		m := h.member("api", "a")
		d, err := h.agg.Instance("api", "a")
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != membership.StatusUnhealthy || m.Reason != want || !m.Since.Equal(since) || d.Member.Reason != want {
			t.Fatalf("store: %s %q since +%s, API: %q; want UNHEALTHY %q since +0s", m.Status, m.Reason, m.Since.Sub(t0), d.Member.Reason, want)
		}
	}
	h.settle(0, 1) // due at once; its member said "no probe result yet" until then
	published("readiness: 503 not_ready, checks.queue=unavailable")

	v := h.store.Version()
	h.advance(5*time.Second, 1) // the unhealthy interval; the same answer
	if h.store.Version() != v {
		t.Fatal("the same reason was written again")
	}
	published("readiness: 503 not_ready, checks.queue=unavailable")

	srv.Set(seedtest.Response{Name: "db-down", Status: 503, ContentType: "application/json",
		Body: `{"status":"not_ready","checks":{"db":"down"}}`})
	h.advance(5*time.Second, 1)
	published("readiness: 503 not_ready, checks.db=down")
	if evs := h.transitions(); len(evs) != 0 {
		t.Fatalf("%d transition events, want none: %+v", len(evs), evs)
	}
}

// The reason is the deciding probe's: a liveness probe failing below its
// threshold, while readiness passes, leaves readiness's reason, and writes
// nothing.
func TestTheReasonIsTheDecidingProbes(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	live := httpProbe("/live", upstreams.DialectHealthz)
	live.Port = 1 // nothing listens on port 1
	h.apply(upstreams.Cluster{Name: "w", InitialStatus: upstreams.InitialUnhealthy,
		Liveness: live, Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "w1", Address: srv.Addr()}}})
	h.settle(0, 2)
	v := h.store.Version()
	h.advance(time.Second, 2)
	if h.store.Version() != v {
		t.Error("a liveness failure below its threshold changed the published member")
	}
	if m := h.member("w", "w1"); m.Status != membership.StatusHealthy || !strings.HasPrefix(m.Reason, "readiness: 200 ready") {
		t.Fatalf("after two liveness failures: %s %q, want HEALTHY for readiness's reason", m.Status, m.Reason)
	}
}
