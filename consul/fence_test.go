package consul_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// lockFence is one replica's side of a writer lock held in Consul KV: the
// session it would fence with, and whether it believes it holds the lock.
type lockFence struct {
	mu      sync.Mutex
	key     string
	session string
	writer  bool
}

func (l *lockFence) set(writer bool) {
	l.mu.Lock()
	l.writer = writer
	l.mu.Unlock()
}

func (l *lockFence) op() *consulapi.TxnOp {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.writer {
		return nil
	}
	return &consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckSession, Key: l.key, Session: l.session}}
}

// Two replicas' publishers over one catalog, each with its own (different)
// view: only the one whose fence holds the lock writes; one that believes
// it is the writer but whose session does not hold the lock is rolled
// back as a whole; a new writer reads the catalog again and writes its
// view; the old one writes nothing more.
func TestFencedPublishers(t *testing.T) {
	a := requireAgent(t)
	client := agentClient(t, a.HTTPAddr)
	key := "vigil/t-fence/writer"
	sessions := make([]string, 2)
	for i := range sessions {
		id, _, err := client.Session().Create(&consulapi.SessionEntry{Name: fmt.Sprintf("fence-test-%d", i),
			Behavior: consulapi.SessionBehaviorDelete, LockDelay: time.Millisecond, Checks: []string{}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = id
		t.Cleanup(func() { _, _ = client.Session().Destroy(id, nil) })
	}
	acquire := func(i int) {
		t.Helper()
		if _, err := client.KV().Delete(key, nil); err != nil {
			t.Fatal(err)
		}
		ok, _, err := client.KV().Acquire(&consulapi.KVPair{Key: key, Session: sessions[i]}, nil)
		if err != nil || !ok {
			t.Fatalf("acquire the lock with session %d: %v %v", i, ok, err)
		}
	}
	acquire(0)

	spec := &upstreams.Cluster{Name: "fence-web"}
	fences := []*lockFence{{key: key, session: sessions[0], writer: true}, {key: key, session: sessions[1]}}
	pubs := make([]*fixture, 2)
	for i, st := range []membership.Status{membership.StatusHealthy, membership.StatusUnhealthy} {
		opts := consul.Options{Deployment: "t-fence", BatchWindow: 50 * time.Millisecond, Fence: fences[i].op}
		pubs[i] = newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(21101, st), instance(21102, st)}, opts)
	}
	runtest.Eventually(t, slack, "the writer's view in the catalog", func() error {
		return passingPorts(client, "fence-web").are(21101, 21102)
	})
	stay := func(what string, want ...int) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if err := passingPorts(client, "fence-web").are(want...); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pubs[1].set(21101, membership.StatusUnhealthy, "b sees it failing")
	stay("a replica that is not the writer changed its view", 21101, 21102)
	if n := pubs[1].metrics.count("ok") + pubs[1].metrics.count("error") + pubs[1].metrics.count("fenced"); n != 0 {
		t.Errorf("the non-writer sent %d transactions", n)
	}
	if ok, detail := pubs[1].pub.Healthy(); !ok {
		t.Errorf("the non-writer is not healthy: %s", detail)
	}

	// b believes it writes, but its session does not hold the lock.
	fences[1].set(true)
	pubs[1].set(21102, membership.StatusUnhealthy, "b sees it failing too")
	runtest.Eventually(t, slack, "b's write fenced off", func() error {
		if pubs[1].metrics.count("fenced") == 0 {
			return fmt.Errorf("no fenced write yet (%d ok)", pubs[1].metrics.count("ok"))
		}
		return nil
	})
	stay("a stale writer's transaction went through", 21101, 21102)
	if n := pubs[1].metrics.count("ok"); n != 0 {
		t.Errorf("the stale writer committed %d transactions", n)
	}

	// The lock moves to b: b reads the catalog and writes its view.
	fences[0].set(false)
	pubs[0].pub.WriterChanged(false)
	acquire(1)
	pubs[1].pub.WriterChanged(true)
	runtest.Eventually(t, slack, "the new writer's view in the catalog", func() error {
		if err := passingPorts(client, "fence-web").are(); err != nil {
			return err
		}
		return allPorts(client, "fence-web").are(21101, 21102)
	})
	okBefore := pubs[0].metrics.count("ok")
	pubs[0].set(21101, membership.StatusDraining, "a drains it")
	pubs[0].set(21102, membership.StatusHealthy, "a")
	stay("the old writer still writes")
	if n := pubs[0].metrics.count("ok"); n != okBefore {
		t.Errorf("the old writer committed %d more transactions", n-okBefore)
	}
}

func agentClient(t *testing.T, addr string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = addr
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
