package replicas

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

const (
	pI = membership.PhaseInitial
	pP = membership.PhasePassing
	pF = membership.PhaseFailing
	pD = membership.PhaseDraining
	pA = membership.PhaseAbsent
)

func TestMergePhase(t *testing.T) {
	cases := []struct {
		name   string
		q      Quorum
		phases []membership.Phase // own first
		prev   membership.Phase
		want   membership.Phase
	}{
		{"majority: all pass", QuorumMajority, ph(pP, pP, pP), pP, pP},
		{"majority: one failing is not published", QuorumMajority, ph(pF, pP, pP), pP, pP},
		{"majority: a peer failing alone is not published", QuorumMajority, ph(pP, pP, pF), pP, pP},
		{"majority: two of three fail it", QuorumMajority, ph(pF, pP, pF), pP, pF},
		{"majority: all three fail it", QuorumMajority, ph(pF, pF, pF), pP, pF},
		{"majority: one passing does not recover", QuorumMajority, ph(pP, pF, pF), pF, pF},
		{"majority: two passing recover", QuorumMajority, ph(pP, pP, pF), pF, pP},
		{"majority: own drain counts at once", QuorumMajority, ph(pD, pP, pP), pP, pD},
		{"majority: a peer's drain counts at once", QuorumMajority, ph(pP, pP, pD), pP, pD},
		{"majority: a drain wins over failing", QuorumMajority, ph(pF, pF, pD), pF, pD},
		{"majority: a drain ends by the recover quorum", QuorumMajority, ph(pP, pP, pF), pD, pP},
		{"majority: a drain does not end without it", QuorumMajority, ph(pP, pF, pF), pD, pF},
		{"majority: no quorum keeps draining", QuorumMajority, ph(pP, pF), pD, pD},
		{"majority: own without a verdict does not vote", QuorumMajority, ph(pI, pP, pP), pI, pP},
		{"majority: peers without a verdict do not vote", QuorumMajority, ph(pF, pI, pI), pP, pF},
		{"majority: two voters split keep passing", QuorumMajority, ph(pI, pF, pP), pP, pP},
		{"majority: two voters split keep failing", QuorumMajority, ph(pI, pF, pP), pF, pF},
		{"majority: two voters split, new instance stays initial", QuorumMajority, ph(pF, pP), pI, pI},
		{"majority: two voters both failing", QuorumMajority, ph(pF, pF), pP, pF},
		{"majority: one replica alone is a quorum of one", QuorumMajority, ph(pF), pP, pF},
		{"majority: one replica alone recovers", QuorumMajority, ph(pP), pF, pP},
		{"majority: nobody has a verdict", QuorumMajority, ph(pI, pI, pI), pI, pI},
		{"majority: nobody has a verdict keeps the last", QuorumMajority, ph(pI, pI), pF, pF},
		{"majority: five voters, three fail", QuorumMajority, ph(pP, pF, pF, pF, pP), pP, pF},
		{"majority: five voters, two fail", QuorumMajority, ph(pP, pF, pF, pP, pP), pP, pP},
		{"absent probe", QuorumMajority, ph(pA, pP, pP), pI, pA},
		{"a peer without the probe does not vote", QuorumMajority, ph(pF, pA, pA), pP, pF},
		{"any: one failing fails it", QuorumAny, ph(pP, pF, pP), pP, pF},
		{"any: own failing fails it", QuorumAny, ph(pF, pP, pP), pP, pF},
		{"any: recovery needs all", QuorumAny, ph(pP, pP, pF), pF, pF},
		{"any: all passing recover", QuorumAny, ph(pP, pP, pP), pF, pP},
		{"any: alone behaves like one vigil", QuorumAny, ph(pF), pP, pF},
		{"all: two of three do not fail it", QuorumAll, ph(pF, pF, pP), pP, pP},
		{"all: every replica fails it", QuorumAll, ph(pF, pF, pF), pP, pF},
		{"all: one passing recovers", QuorumAll, ph(pF, pP, pF), pF, pP},
		{"all: a drain still counts at once", QuorumAll, ph(pP, pD, pP), pP, pD},
		{"all: voters without a verdict aside", QuorumAll, ph(pF, pF, pI), pP, pF},
	}
	for _, c := range cases {
		if got := mergePhase(c.q, c.phases, c.prev); got != c.want {
			t.Errorf("%s: mergePhase(%s, %v, prev %s) = %s, want %s", c.name, c.q, c.phases, c.prev, got, c.want)
		}
	}
}

func ph(p ...membership.Phase) []membership.Phase { return p }

func TestQuorumThresholds(t *testing.T) {
	cases := []struct {
		q             Quorum
		v             int
		fail, recover int
	}{
		{QuorumMajority, 1, 1, 1}, {QuorumMajority, 2, 2, 2}, {QuorumMajority, 3, 2, 2}, {QuorumMajority, 4, 3, 3},
		{QuorumAny, 3, 1, 3}, {QuorumAll, 3, 3, 1}, {QuorumAny, 1, 1, 1}, {QuorumAll, 1, 1, 1},
	}
	for _, c := range cases {
		if f, r := c.q.thresholds(c.v); f != c.fail || r != c.recover {
			t.Errorf("%s over %d: fail %d recover %d, want %d %d", c.q, c.v, f, r, c.fail, c.recover)
		}
	}
	if _, err := ParseQuorum("most"); err == nil || !strings.Contains(err.Error(), "most") {
		t.Errorf("ParseQuorum(most) = %v", err)
	}
	if q, err := ParseQuorum(""); err != nil || q != QuorumMajority {
		t.Errorf("ParseQuorum(\"\") = %s, %v", q, err)
	}
}

func v(live, ready membership.Phase) membership.Verdict {
	return membership.Verdict{Live: live, Ready: ready}
}

func voteOf(id string, vd membership.Verdict, reason string) vote {
	return vote{replica: id, verdict: vd, status: membership.Decide(vd, upstreams.InitialUnhealthy, false), reason: reason}
}

func TestMergeMember(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0.Add(time.Minute)
	own := func(vd membership.Verdict, reason string) *membership.Member {
		return &membership.Member{Instance: upstreams.Instance{ID: "i1", Address: "10.0.0.1:80"}, Verdict: vd,
			Status: membership.Decide(vd, upstreams.InitialUnhealthy, false), Reason: reason, Since: t0}
	}
	healthy := v(pP, pP)
	notReady := v(pP, pF)
	prevHealthy := &membership.Member{Instance: upstreams.Instance{ID: "i1", Address: "10.0.0.1:80"}, Verdict: healthy,
		Status: membership.StatusHealthy, Reason: "readiness: 200 (2 in a row)", Since: t0}

	t.Run("one replica: the merged member is its own", func(t *testing.T) {
		o := own(notReady, "readiness: 503 (3 in a row)")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy, []vote{voteOf("a", o.Verdict, o.Reason)}, prevHealthy, now)
		if m.Status != o.Status || m.Reason != o.Reason || m.Verdict != o.Verdict {
			t.Fatalf("merged %+v, own %+v", m, o)
		}
		if !m.Since.Equal(now) {
			t.Errorf("since %v, want the merge time %v", m.Since, now)
		}
	})
	t.Run("failure seen by one of three is not published", func(t *testing.T) {
		o := own(notReady, "readiness: 503")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", notReady, "readiness: 503"), voteOf("b", healthy, "b ok"), voteOf("c", healthy, "c ok")}, prevHealthy, now)
		if m.Status != membership.StatusHealthy || m.Verdict != healthy {
			t.Fatalf("status %s verdict %+v", m.Status, m.Verdict)
		}
		if m.Reason != prevHealthy.Reason || !m.Since.Equal(t0) {
			t.Errorf("reason %q since %v: an unchanged merged member keeps both", m.Reason, m.Since)
		}
	})
	t.Run("reason from a peer that holds the merged verdict", func(t *testing.T) {
		o := own(healthy, "own ok")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", healthy, "own ok"), voteOf("b", notReady, "b: 503"), voteOf("c", notReady, "c: 503")}, prevHealthy, now)
		if m.Status != membership.StatusUnhealthy || m.Reason != "b: 503" || !m.Since.Equal(now) {
			t.Fatalf("got %s %q %v", m.Status, m.Reason, m.Since)
		}
	})
	t.Run("reason prefers own", func(t *testing.T) {
		o := own(notReady, "own: 503")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", notReady, "own: 503"), voteOf("b", notReady, "b: 503"), voteOf("c", healthy, "c ok")}, prevHealthy, now)
		if m.Reason != "own: 503" {
			t.Fatalf("reason %q", m.Reason)
		}
	})
	t.Run("a verdict nobody holds is explained by the tally", func(t *testing.T) {
		o := own(v(pF, pP), "own: live 500")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", v(pF, pP), "x"), voteOf("b", v(pP, pF), "y"), voteOf("c", v(pF, pF), "z")}, prevHealthy, now)
		if m.Verdict != v(pF, pF) || m.Status != membership.StatusUnhealthy {
			t.Fatalf("verdict %+v status %s", m.Verdict, m.Status)
		}
		if m.Reason != "z" {
			t.Fatalf("reason %q, want c's (it holds failing/failing)", m.Reason)
		}
		// Readiness has no quorum and keeps draining; liveness fails by
		// two of three: nobody holds failing/draining.
		prevDraining := &membership.Member{Instance: o.Instance, Verdict: v(pP, pD), Status: membership.StatusDraining, Reason: "drain", Since: t0}
		m = mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", v(pF, pP), "x"), voteOf("b", v(pP, pF), "y"), voteOf("c", v(pF, pI), "z")}, prevDraining, now)
		if m.Verdict != v(pF, pD) || m.Status != membership.StatusUnhealthy || m.Reason != "replicas: liveness failing on 2 of 3" {
			t.Fatalf("verdict %+v status %s reason %q", m.Verdict, m.Status, m.Reason)
		}
	})
	t.Run("a drain seen by one replica is published", func(t *testing.T) {
		o := own(healthy, "ok")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", healthy, "ok"), voteOf("b", v(pP, pD), "readiness: draining"), voteOf("c", healthy, "ok")}, prevHealthy, now)
		if m.Status != membership.StatusDraining || m.Reason != "readiness: draining" {
			t.Fatalf("status %s reason %q", m.Status, m.Reason)
		}
	})
	t.Run("manual drain of own member", func(t *testing.T) {
		o := own(healthy, "manual drain: kernel")
		o.Override = &membership.Override{Reason: "kernel", Since: t0}
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", healthy, "x"), voteOf("b", healthy, "y")}, prevHealthy, now)
		if m.Status != membership.StatusDraining || m.Reason != "manual drain: kernel" || m.Override != o.Override {
			t.Fatalf("status %s reason %q override %v", m.Status, m.Reason, m.Override)
		}
	})
	t.Run("degraded by most passing voters", func(t *testing.T) {
		deg := membership.Verdict{Live: pP, Ready: pP, Degraded: true}
		o := own(healthy, "ok")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", healthy, "ok"), voteOf("b", deg, "warn"), voteOf("c", deg, "warn")}, prevHealthy, now)
		if m.Status != membership.StatusDegraded || m.Reason != "warn" {
			t.Fatalf("status %s reason %q", m.Status, m.Reason)
		}
		m = mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{voteOf("a", healthy, "ok"), voteOf("b", deg, "warn"), voteOf("c", healthy, "ok")}, prevHealthy, now)
		if m.Status != membership.StatusHealthy {
			t.Fatalf("one of three degraded: status %s", m.Status)
		}
	})
	t.Run("new instance: initial status until a quorum", func(t *testing.T) {
		o := own(notReady, "503")
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnknown,
			[]vote{voteOf("a", notReady, "503"), voteOf("b", healthy, "ok")}, nil, now)
		if m.Verdict.Ready != pI || m.Status != membership.StatusUnknown || !m.Since.Equal(t0) {
			t.Fatalf("verdict %+v status %s since %v", m.Verdict, m.Status, m.Since)
		}
		if m.Reason != "replicas: readiness initial on 0 of 2" {
			t.Errorf("reason %q", m.Reason)
		}
	})
	t.Run("readiness absent: liveness decides, degraded from liveness", func(t *testing.T) {
		o := &membership.Member{Instance: upstreams.Instance{ID: "i1"}, Verdict: membership.Verdict{Live: pP, Ready: pA, Degraded: true},
			Status: membership.StatusDegraded, Reason: "warn"}
		m := mergeMember(QuorumMajority, o, upstreams.InitialUnhealthy,
			[]vote{{replica: "a", verdict: o.Verdict, status: o.Status, reason: "warn"}}, nil, now)
		if m.Status != membership.StatusDegraded || m.Verdict.Ready != pA {
			t.Fatalf("status %s verdict %+v", m.Status, m.Verdict)
		}
	})
}

func TestAgree(t *testing.T) {
	if !agree([]vote{voteOf("a", v(pP, pP), ""), voteOf("b", v(pI, pI), ""), voteOf("c", v(pP, pP), "")}) {
		t.Error("a replica without a verdict counted as disagreeing")
	}
	if agree([]vote{voteOf("a", v(pP, pP), ""), voteOf("b", v(pP, pF), "")}) {
		t.Error("different verdicts agree")
	}
}

// This replica's hold (its fail-safe or its cluster's max_ejection_percent)
// holds in the merged view: a merged verdict that would take the instance
// out of rotation for failed probes keeps own's status; a drain is never
// held; a merged status that follows its verdict carries no hold.
func TestMergeMemberKeepsOwnHold(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0.Add(time.Minute)
	healthy, notReady := v(pP, pP), v(pP, pF)
	hold := &membership.Hold{Cause: membership.HoldMaxEjection, Reason: "max_ejection_percent 50: 5 of 10 out", Since: t0}
	heldOwn := func(vd membership.Verdict) *membership.Member {
		return &membership.Member{Instance: upstreams.Instance{ID: "i1", Address: "10.0.0.1:80"}, Verdict: vd,
			Status: membership.StatusHealthy, Reason: "readiness: 200 ready (2 in a row)", Since: t0, Held: hold}
	}
	prev := &membership.Member{Instance: upstreams.Instance{ID: "i1", Address: "10.0.0.1:80"}, Verdict: healthy,
		Status: membership.StatusHealthy, Reason: "readiness: 200 ready (2 in a row)", Since: t0}
	cases := []struct {
		name       string
		own        *membership.Member
		votes      []vote
		wantStatus membership.Status
		wantHeld   bool
	}{
		{"held here, failing by quorum: stays in rotation, held", heldOwn(notReady),
			[]vote{voteOf("a", notReady, "x"), voteOf("b", notReady, "y"), voteOf("c", healthy, "z")}, membership.StatusHealthy, true},
		{"one replica alone: its hold is the merged one", heldOwn(notReady),
			[]vote{voteOf("a", notReady, "x")}, membership.StatusHealthy, true},
		{"held here, passing by quorum: the same status, shown held", heldOwn(healthy),
			[]vote{voteOf("a", healthy, "x"), voteOf("b", healthy, "y")}, membership.StatusHealthy, true},
		{"a drain seen by a peer is never held", heldOwn(notReady),
			[]vote{voteOf("a", notReady, "x"), voteOf("b", v(pP, pD), "drain"), voteOf("c", notReady, "z")}, membership.StatusDraining, false},
		{"not held here: failing by quorum leaves", func() *membership.Member { m := heldOwn(notReady); m.Held = nil; return m }(),
			[]vote{voteOf("a", notReady, "x"), voteOf("b", notReady, "y")}, membership.StatusUnhealthy, false},
	}
	for _, c := range cases {
		m := mergeMember(QuorumMajority, c.own, upstreams.InitialUnhealthy, c.votes, prev, now)
		if m.Status != c.wantStatus || (m.Held != nil) != c.wantHeld {
			t.Errorf("%s: status %s held %v, want %s held %v", c.name, m.Status, m.Held != nil, c.wantStatus, c.wantHeld)
		}
		if c.wantHeld && c.wantStatus == c.own.Status && m.Reason != c.own.Reason {
			t.Errorf("%s: reason %q, want own's %q", c.name, m.Reason, c.own.Reason)
		}
	}
}
