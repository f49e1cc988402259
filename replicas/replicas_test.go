package replicas

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
)

// converge bounds how long every replica may take to publish a change.
const converge = time.Second

// Three replicas against one real agent find each other, and publish the
// same merged view: a failure one replica sees is published by none, two
// of three fail it, a drain one sees is published by all, recovery needs
// two of three passing. Each change reaches every merged view within a
// second. Stopping them leaves no goroutine behind.
func TestThreeReplicasMergeByQuorum(t *testing.T) {
	a := requireAgent(t)
	base := runtime.NumGoroutine()
	clusters := map[string]int{"web": 30, "api": 5}
	nodes := []*node{
		startNode(t, a, "a", clusters, nil),
		startNode(t, a, "b", clusters, nil),
		startNode(t, a, "c", clusters, nil),
	}
	na, nb, nc := nodes[0], nodes[1], nodes[2]
	meshed(t, 3*testTTL, nodes)
	for _, n := range nodes {
		for _, c := range []string{"web", "api"} {
			mc, ok := n.merged.Cluster(c)
			if !ok || len(mc.Members) != clusters[c] {
				t.Fatalf("%s: merged cluster %s missing or short: %+v", n.id, c, mc)
			}
			for _, m := range mc.Members {
				if m.Status != membership.StatusHealthy {
					t.Fatalf("%s: %s/%s is %s before any change", n.id, c, m.ID, m.Status)
				}
			}
		}
	}

	// One replica sees web/1 fail and web/2 drain. The stream is ordered,
	// so once every replica publishes the drain it has also heard the
	// failure, and must not have published it.
	na.set("web", inst(1), notReady, "readiness: 503 (3 in a row)")
	na.set("web", inst(2), draining, "readiness: 503 draining")
	took := allStatus(t, converge, nodes, "web", inst(2), membership.StatusDraining)
	t.Logf("a drain seen by one replica published by all three in %s", took)
	for _, n := range nodes {
		if got := n.status("web", inst(1)); got != membership.StatusHealthy {
			t.Fatalf("%s publishes web/1 %s though only replica a sees it failing", n.id, got)
		}
	}
	v, err := nb.rep.Votes("web", inst(1))
	if err != nil || len(v.Votes) != 3 || v.Status != membership.StatusHealthy {
		t.Fatalf("b's votes on web/1: %+v, %v", v, err)
	}
	for _, vote := range v.Votes {
		want := healthy
		if vote.Replica == "a" {
			want = notReady
		}
		if vote.Verdict != want || !vote.Voting {
			t.Errorf("b's view of %s's vote on web/1: %+v, want verdict %+v voting", vote.Replica, vote, want)
		}
	}
	runtest.Eventually(t, converge, "disagreements counted", func() error {
		for _, n := range nodes {
			if d := n.rep.Disagreements(); d != 2 {
				return fmt.Errorf("%s counts %d disagreements, want 2 (web/1 and web/2)", n.id, d)
			}
		}
		return nil
	})

	// A second replica sees it fail: two of three.
	nb.set("web", inst(1), notReady, "readiness: 503 (3 in a row)")
	took = allStatus(t, converge, nodes, "web", inst(1), membership.StatusUnhealthy)
	t.Logf("a failure seen by two of three published by all in %s", took)
	nc.set("web", inst(1), notReady, "readiness: 503 (3 in a row)")
	v, _ = nc.rep.Votes("web", inst(1))
	if v.Status != membership.StatusUnhealthy || v.Reason != "readiness: 503 (3 in a row)" {
		t.Errorf("c's merged web/1: %+v", v)
	}

	// Recovery needs two of three passing.
	nc.set("web", inst(1), healthy, "readiness: 200 (2 in a row)")
	na.set("web", inst(2), healthy, "readiness: 200 (2 in a row)") // barrier: the drain ends
	allStatus(t, converge, nodes, "web", inst(2), membership.StatusHealthy)
	for _, n := range nodes {
		if got := n.status("web", inst(1)); got != membership.StatusUnhealthy {
			t.Fatalf("%s publishes web/1 %s with one replica of three passing", n.id, got)
		}
	}
	na.set("web", inst(1), healthy, "readiness: 200 (2 in a row)")
	took = allStatus(t, converge, nodes, "web", inst(1), membership.StatusHealthy)
	t.Logf("recovery by two of three published by all in %s", took)

	// A failure every replica sees.
	for _, n := range nodes {
		n.set("api", inst(0), notReady, "readiness: connection refused")
	}
	allStatus(t, converge, nodes, "api", inst(0), membership.StatusUnhealthy)

	// Instances and clusters come and go with the local store; merged
	// events are what the merged view did.
	for _, n := range nodes {
		n.local.RemoveCluster("api", nil)
	}
	runtest.Eventually(t, converge, "cluster api gone from every merged view", func() error {
		for _, n := range nodes {
			if _, ok := n.merged.Cluster("api"); ok {
				return fmt.Errorf("%s still has api", n.id)
			}
		}
		return nil
	})
	evs := na.merged.Events(membership.EventQuery{Cluster: "web", Instance: inst(1)})
	if len(evs) != 2 || evs[1].To != membership.StatusUnhealthy || evs[0].To != membership.StatusHealthy {
		t.Errorf("a's merged events for web/1: %+v, want HEALTHY->UNHEALTHY->HEALTHY", evs)
	}

	for _, n := range nodes {
		n.stop()
	}
	noLeaks(t, base)
}

// One replica alone is a quorum of one: its merged view is its own.
func TestSingleReplicaMergedIsLocal(t *testing.T) {
	a := requireAgent(t)
	n := startNode(t, a, "solo", map[string]int{"web": 10}, func(o *Options) { o.Deployment = "solo" })
	runtest.Eventually(t, 2*testTTL, "ready", func() error {
		if ok, why := n.rep.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	n.set("web", inst(3), notReady, "readiness: 503")
	n.set("web", inst(4), draining, "readiness: draining")
	n.set("web", inst(5), membership.Verdict{Live: membership.PhaseFailing, Ready: membership.PhasePassing}, "liveness: 500")
	runtest.Eventually(t, converge, "merged equals local", func() error {
		lc, _ := n.local.Cluster("web")
		mc, _ := n.merged.Cluster("web")
		for i, l := range lc.Members {
			m := mc.Members[i]
			if m.ID != l.ID || m.Status != l.Status || m.Reason != l.Reason || m.Verdict != l.Verdict {
				return fmt.Errorf("merged %+v, local %+v", *m, *l)
			}
		}
		return nil
	})
	if !n.rep.IsWriter() {
		runtest.Eventually(t, testTTL, "the only replica becomes the writer", func() error {
			if !n.rep.IsWriter() || !n.writer.Load() {
				return fmt.Errorf("not the writer")
			}
			return nil
		})
	}
}

// A second replica with an ID already held by a live one refuses to run.
func TestDuplicateIDRefused(t *testing.T) {
	a := requireAgent(t)
	first := startNode(t, a, "dup", map[string]int{"web": 1}, func(o *Options) { o.Deployment = "dup" })
	runtest.Eventually(t, 2*testTTL, "first registered", func() error {
		if _, ok := first.rep.sess.valid(time.Now()); !ok {
			return fmt.Errorf("no session")
		}
		return nil
	})
	c, tr := consulClient(t, a)
	defer tr.CloseIdleConnections()
	r, err := New(Options{ID: "dup", Advertise: "127.0.0.1:1", Deployment: "dup", SessionTTL: testTTL, Consul: c,
		Local: membership.NewStore(10), Merged: membership.NewStore(10), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrIDInUse) {
			t.Fatalf("Run = %v, want ErrIDInUse", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run with a duplicate ID did not return")
	}
}

// This replica's holds reach the merged view: a hold alone (the status
// stays) is merged, and the fail-safe's state and events are mirrored, so
// what publishers and the API read says held as a single vigil's would.
func TestOwnHoldsReachTheMergedView(t *testing.T) {
	a := requireAgent(t)
	n := startNode(t, a, "holder", map[string]int{"web": 4}, func(o *Options) { o.Deployment = "holds" })
	runtest.Eventually(t, 2*testTTL, "ready", func() error {
		if ok, why := n.rep.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	at := time.Now()
	hold := &membership.Hold{Cause: membership.HoldFailSafe, Reason: "holding: 3 of 4 failing to connect", Since: at}
	n.local.SetFailSafe(membership.FailSafe{Holding: true, Reason: hold.Reason, Since: at},
		[]membership.Event{{Time: at, Kind: membership.EventFailSafe, Reason: hold.Reason}})
	n.local.UpdateMember("web", inst(1), func(m *membership.Member) (*membership.Event, bool) {
		m.Held = hold
		return nil, true
	})
	runtest.Eventually(t, converge, "the hold and the fail-safe in the merged store", func() error {
		c, _ := n.merged.Cluster("web")
		m, _ := c.Member(inst(1))
		if m.Held == nil || m.Held.Reason != hold.Reason || m.Status != membership.StatusHealthy {
			return fmt.Errorf("merged member %s held %+v", m.Status, m.Held)
		}
		if fs := n.merged.FailSafe(); !fs.Holding || fs.Reason != hold.Reason {
			return fmt.Errorf("merged fail-safe %+v", fs)
		}
		for _, ev := range n.merged.Events(membership.EventQuery{Limit: 50}) {
			if ev.Kind == membership.EventFailSafe && ev.Reason == hold.Reason {
				return nil
			}
		}
		return fmt.Errorf("no fail_safe event in the merged history")
	})
}
