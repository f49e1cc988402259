package aggregator

import (
	"net"
	"strconv"

	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
)

// An instance that fails from its first probe keeps its initial status,
// yet publishes that probe's reason, not "no probe result yet"; a new
// reason from the probe replaces it, a repeat does not (nothing is
// written), and none of it is a transition. What publishers read, the
// store's member, and the API's view say the same.
func TestThePublishedReasonIsTheCurrentOne(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzNotReady)
	h := newHarness(t)
	h.apply(readyzCluster(srv.Addr()))
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

// A result against its probe's phase does not explain the status: a
// passing readiness probe's failure below its threshold leaves the
// published reason (and writes nothing), as does a failing probe's pass
// below the rise threshold.
func TestAResultAgainstThePhaseLeavesTheReason(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	h.apply(readyzCluster(srv.Addr()))
	h.settle(0, 1)
	const passing = "readiness: 200 ready (1 in a row)"
	if m := h.member("api", "a"); m.Status != membership.StatusHealthy || m.Reason != passing {
		t.Fatalf("after the first pass: %s %q", m.Status, m.Reason)
	}
	srv.Set(seedtest.HealthzNotReady)
	v := h.store.Version()
	h.advance(time.Second, 1)
	if m := h.member("api", "a"); h.store.Version() != v || m.Status != membership.StatusHealthy || m.Reason != passing {
		t.Fatalf("after one failure (fall is 3): %s %q, store written: %v", m.Status, m.Reason, h.store.Version() != v)
	}
	h.advance(time.Second, 1)
	h.advance(time.Second, 1) // the third failure: a transition
	const failing = "readiness: 503 not_ready, checks.queue=unavailable (3 in a row)"
	if m := h.member("api", "a"); m.Status != membership.StatusUnhealthy || m.Reason != failing {
		t.Fatalf("after three failures: %s %q", m.Status, m.Reason)
	}
	srv.Set(seedtest.HealthzReady)
	v = h.store.Version()
	h.advance(5*time.Second, 1) // the unhealthy interval; rise is 2
	if m := h.member("api", "a"); h.store.Version() != v || m.Reason != failing {
		t.Fatalf("after one pass (rise is 2): %s %q, store written: %v", m.Status, m.Reason, h.store.Version() != v)
	}
}

// The verdict is published whenever it changes, also under the same
// status: liveness fails first (UNHEALTHY, decided by liveness), then
// readiness fails too. The status stays, liveness still decides it and no
// transition is recorded, but the store's member says that readiness
// fails, for what reads verdicts (a restart's restore, replicas merging
// each other's verdicts).
func TestAVerdictChangeUnderTheSameStatusIsPublished(t *testing.T) {
	ready := seedtest.NewServer(t, seedtest.HealthzReady)
	live := seedtest.NewServer(t, seedtest.HealthzReady)
	_, livePort, err := net.SplitHostPort(live.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := readyzCluster(ready.Addr())
	c.Liveness = httpProbe("/livez", upstreams.DialectHealthz)
	c.Liveness.Port, _ = strconv.Atoi(livePort)
	h := newHarness(t)
	h.apply(c)
	h.settle(0, 2)
	if m := h.member("api", "a"); m.Status != membership.StatusHealthy {
		t.Fatalf("first round: %s %+v", m.Status, m.Verdict)
	}
	live.Set(seedtest.HealthzNotReady)
	for range 3 { // unhealthy_threshold
		h.advance(time.Second, 2)
	}
	m := h.member("api", "a")
	if m.Status != membership.StatusUnhealthy || m.Verdict.Live != membership.PhaseFailing || m.Verdict.Ready != membership.PhasePassing {
		t.Fatalf("after liveness failed three times: %s %+v", m.Status, m.Verdict)
	}
	before := len(h.transitions())
	ready.Set(seedtest.HealthzNotReady)
	for range 3 {
		h.advance(5*time.Second, 2)
	}
	m = h.member("api", "a")
	if m.Status != membership.StatusUnhealthy || m.Verdict.Ready != membership.PhaseFailing || m.Verdict.Live != membership.PhaseFailing {
		t.Fatalf("after readiness failed three times too: %s %+v; want UNHEALTHY with both failing", m.Status, m.Verdict)
	}
	if after := len(h.transitions()); after != before {
		t.Fatalf("%d transition events for a verdict change under the same status, want none", after-before)
	}
}
