package replicas

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
)

// Exactly one replica writes. When it dies (its session left to expire, as
// a killed process's would) the others drop its votes and one of them
// takes the lock within session_ttl plus a little; a transaction fenced
// with the dead writer's session then fails while the new writer's
// succeeds. A clean stop hands the lock over at once.
func TestWriterFailover(t *testing.T) {
	a := requireAgent(t)
	base := runtime.NumGoroutine()
	clusters := map[string]int{"web": 10}
	dep := func(o *Options) { o.Deployment = "failover" }
	nodes := []*node{startNode(t, a, "a", clusters, dep), startNode(t, a, "b", clusters, dep), startNode(t, a, "c", clusters, dep)}
	meshed(t, 3*testTTL, nodes)
	var w *node
	runtest.Eventually(t, 2*testTTL, "one writer", func() error {
		ws := writers(nodes)
		if len(ws) != 1 {
			return fmt.Errorf("%d writers", len(ws))
		}
		w = ws[0]
		for _, n := range nodes {
			writer := ""
			for _, info := range n.rep.Replicas() {
				if info.Writer {
					writer += info.ID
				}
			}
			if writer != w.id {
				return fmt.Errorf("%s says the writer is %q, want %q", n.id, writer, w.id)
			}
		}
		if !w.writer.Load() {
			return fmt.Errorf("%s was not told it writes", w.id)
		}
		return nil
	})
	var rest []*node
	for _, n := range nodes {
		if n != w {
			rest = append(rest, n)
		}
	}
	c, tr := consulClient(t, a)
	defer tr.CloseIdleConnections()
	fenced := func(op *consulapi.TxnOp, value string) (bool, error) {
		ok, _, _, err := c.Txn().Txn(consulapi.TxnOps{op,
			{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "vigil/failover/fenced-test", Value: []byte(value)}}}, nil)
		return ok, err
	}
	oldFence := w.rep.FenceOp()
	if oldFence == nil {
		t.Fatal("the writer has no fence")
	}
	if ok, err := fenced(oldFence, "old writer, holding"); err != nil || !ok {
		t.Fatalf("a txn fenced by the writer's own session failed: %v %v", ok, err)
	}
	for _, n := range rest {
		if n.rep.FenceOp() != nil {
			t.Fatalf("%s is not the writer but has a fence", n.id)
		}
	}

	// The writer alone sees web/0 drain: every replica publishes it.
	w.set("web", inst(0), draining, "readiness: draining")
	allStatus(t, converge, nodes, "web", inst(0), membership.StatusDraining)

	w.crash()
	died := time.Now()
	took := allStatus(t, testTTL+3*time.Second, rest, "web", inst(0), membership.StatusHealthy)
	t.Logf("the dead writer's drain vote dropped after %s (session_ttl %s)", took, testTTL)
	var next *node
	runtest.Eventually(t, testTTL+5*time.Second, "a new writer", func() error {
		ws := writers(rest)
		if len(ws) != 1 {
			return fmt.Errorf("%d writers", len(ws))
		}
		next = ws[0]
		return nil
	})
	t.Logf("new writer %s %s after the old one died (session_ttl %s)", next.id, time.Since(died).Round(time.Millisecond), testTTL)
	for _, n := range rest {
		for _, info := range n.rep.Replicas() {
			if info.ID == w.id && (info.Live || info.Voting) {
				t.Errorf("%s still counts the dead %s: %+v", n.id, w.id, info)
			}
		}
	}
	if ok, err := fenced(oldFence, "old writer, after losing the lock"); err != nil || ok {
		t.Fatalf("a txn fenced by the dead writer's session: ok=%v err=%v, want rolled back", ok, err)
	}
	if ok, err := fenced(next.rep.FenceOp(), "new writer"); err != nil || !ok {
		t.Fatalf("a txn fenced by the new writer's session failed: %v %v", ok, err)
	}
	pair, _, err := c.KV().Get("vigil/failover/fenced-test", nil)
	if err != nil || pair == nil || string(pair.Value) != "new writer" {
		t.Fatalf("fenced key: %+v %v", pair, err)
	}
	if next.gains.Load() != 1 || !next.writer.Load() {
		t.Errorf("the new writer was told %d times it gained the lock, writer=%v", next.gains.Load(), next.writer.Load())
	}

	// A clean stop releases the lock at once.
	var last *node
	for _, n := range rest {
		if n != next {
			last = n
		}
	}
	stopped := time.Now()
	next.stop()
	runtest.Eventually(t, 3*time.Second, "the last replica takes the lock", func() error {
		if !last.rep.IsWriter() {
			return fmt.Errorf("%s is not the writer", last.id)
		}
		return nil
	})
	t.Logf("lock handed over %s after a clean stop", time.Since(stopped).Round(time.Millisecond))
	if next.writer.Load() {
		t.Error("the stopped writer was not told it stopped writing")
	}
	last.stop()
	tr.CloseIdleConnections()
	noLeaks(t, base)
}

// A replica whose session lapses (a stopped process, Consul cut off) stops
// being the writer at once and registers again when it can.
func TestSessionLossStopsWriting(t *testing.T) {
	a := requireAgent(t)
	n := startNode(t, a, "solo", map[string]int{"web": 2}, func(o *Options) { o.Deployment = "loss" })
	runtest.Eventually(t, 2*testTTL, "writer", func() error {
		if !n.rep.IsWriter() {
			return fmt.Errorf("not the writer")
		}
		return nil
	})
	id, _, _ := n.rep.sess.current()
	c, tr := consulClient(t, a)
	defer tr.CloseIdleConnections()
	if _, err := c.Session().Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	// It may lose and regain the lock between two polls: count the calls.
	runtest.Eventually(t, 2*time.Second, "told it lost the lock", func() error {
		if n.losses.Load() != 1 {
			return fmt.Errorf("told of %d losses", n.losses.Load())
		}
		return nil
	})
	runtest.Eventually(t, 2*testTTL, "writer again with a new session", func() error {
		cur, _, _ := n.rep.sess.current()
		if cur == "" || cur == id || !n.rep.IsWriter() || !n.writer.Load() {
			return fmt.Errorf("session %q writer %v", cur, n.rep.IsWriter())
		}
		return nil
	})
	if g := n.gains.Load(); g != 2 {
		t.Errorf("told of %d gains, want 2 (each calls for a full reconcile)", g)
	}
}

// A replica that died comes back under the same ID (a restart): it
// registers again although its old check is left critical on the agent,
// and meanwhile its old self was not counted.
func TestRestartAfterCrash(t *testing.T) {
	a := requireAgent(t)
	dep := func(o *Options) { o.Deployment = "restart" }
	first := startNode(t, a, "r", map[string]int{"web": 3}, dep)
	runtest.Eventually(t, 2*testTTL, "registered", func() error {
		if !first.rep.IsWriter() {
			return fmt.Errorf("not the writer")
		}
		return nil
	})
	first.crash()
	c, tr := consulClient(t, a)
	defer tr.CloseIdleConnections()
	runtest.Eventually(t, testTTL+3*time.Second, "the dead replica's key gone", func() error {
		pair, _, err := c.KV().Get("vigil/restart/replicas/r", nil)
		if err != nil || pair != nil {
			return fmt.Errorf("key %+v, %v", pair, err)
		}
		return nil
	})
	again := startNode(t, a, "r", map[string]int{"web": 3}, dep)
	took := runtest.Eventually(t, 2*time.Second, "registered again", func() error {
		if !again.rep.IsWriter() {
			return fmt.Errorf("not the writer")
		}
		return nil
	})
	t.Logf("registered again in %s", took)
}

// A writer cut off from Consul (its requests hang) stops being the writer
// within session_ttl, before Consul ends its session, so no unfenced write
// of it can race the next writer; another replica takes the lock; its
// peers keep merging with it over the streams meanwhile; when the link
// comes back it registers again.
func TestWriterCutOffFromConsul(t *testing.T) {
	a := requireAgent(t)
	dep := func(o *Options) { o.Deployment = "cutoff" }
	nodes := []*node{startNode(t, a, "a", map[string]int{"web": 4}, dep), startNode(t, a, "b", map[string]int{"web": 4}, dep)}
	meshed(t, 3*testTTL, nodes)
	var w, other *node
	runtest.Eventually(t, 2*testTTL, "one writer", func() error {
		ws := writers(nodes)
		if len(ws) != 1 {
			return fmt.Errorf("%d writers", len(ws))
		}
		w = ws[0]
		return nil
	})
	other = nodes[0]
	if other == w {
		other = nodes[1]
	}
	w.consul.cut()
	cut := time.Now()
	runtest.Eventually(t, testTTL+time.Second, "the cut-off writer stops writing", func() error {
		if w.rep.IsWriter() || w.rep.FenceOp() != nil {
			return fmt.Errorf("still the writer")
		}
		return nil
	})
	stoppedAfter := time.Since(cut)
	runtest.Eventually(t, testTTL+5*time.Second, "the other takes the lock", func() error {
		if !other.rep.IsWriter() {
			return fmt.Errorf("%s is not the writer", other.id)
		}
		return nil
	})
	tookAfter := time.Since(cut)
	t.Logf("cut-off writer stopped after %s; %s writes after %s (session_ttl %s)", stoppedAfter.Round(time.Millisecond), other.id, tookAfter.Round(time.Millisecond), testTTL)
	if stoppedAfter > tookAfter {
		t.Errorf("the old writer stopped (%s) after the new one started (%s)", stoppedAfter, tookAfter)
	}
	runtest.Eventually(t, 2*time.Second, "the cut-off writer is told", func() error {
		if w.writer.Load() {
			return fmt.Errorf("OnWriterChange(false) not called")
		}
		return nil
	})
	// The cut-off replica keeps merging its peer's votes (its last known
	// registry); the peer no longer counts it (its session is gone).
	other.set("web", inst(1), draining, "readiness: draining")
	allStatus(t, converge, nodes, "web", inst(1), membership.StatusDraining)
	w.set("web", inst(2), draining, "readiness: draining")
	allStatus(t, converge, []*node{w}, "web", inst(2), membership.StatusDraining)
	for _, info := range other.rep.Replicas() {
		if info.ID == w.id && (info.Live || info.Voting) {
			t.Errorf("%s still counts %s, whose session is gone: %+v", other.id, w.id, info)
		}
	}
	if got := other.status("web", inst(2)); got != membership.StatusHealthy {
		t.Errorf("%s publishes the drain of a replica whose session is gone: %s", other.id, got)
	}

	w.consul.open()
	runtest.Eventually(t, 3*testTTL, "registered again", func() error {
		if _, ok := w.rep.sess.valid(time.Now()); !ok {
			return fmt.Errorf("no session")
		}
		for _, info := range other.rep.Replicas() {
			if info.ID == w.id && info.Live {
				return nil
			}
		}
		return fmt.Errorf("%s does not see %s live", other.id, w.id)
	})
	if w.rep.IsWriter() || !other.rep.IsWriter() {
		t.Errorf("after the link came back: %s writer %v, %s writer %v", w.id, w.rep.IsWriter(), other.id, other.rep.IsWriter())
	}
}
