package replicas

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
)

// drainsNode is one replica's Drains with its own bbolt cache and watch.
type drainsNode struct {
	d      *Drains
	cache  *overrides.Store
	dir    string
	cancel context.CancelFunc
	done   chan error

	mu   sync.Mutex
	last []overrides.Entry
	hits int
}

func openDrains(t *testing.T, a *consultest.Agent, dir string) *drainsNode {
	t.Helper()
	cache, err := overrides.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, tr := consulClient(t, a)
	t.Cleanup(tr.CloseIdleConnections)
	d, err := NewDrains(DrainsOptions{Consul: c, Deployment: "drains", Cache: cache, Timeout: 2 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	n := &drainsNode{d: d, cache: cache, dir: dir, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		n.done <- d.Watch(ctx, func(set []overrides.Entry) {
			n.mu.Lock()
			n.last, n.hits = set, n.hits+1
			n.mu.Unlock()
		})
	}()
	t.Cleanup(n.close)
	return n
}

func (n *drainsNode) close() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done //nolint:errcheck // Watch returns nil once its context ends: only its end is awaited
	n.cancel = nil
	_ = n.cache.Close()
}

func (n *drainsNode) seen() ([]overrides.Entry, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last, n.hits
}

// holds checks that set has exactly the instances want (cluster/instance) with reason.
func holds(set []overrides.Entry, reason string, want ...string) error {
	if len(set) != len(want) {
		return fmt.Errorf("%d drains, want %d: %+v", len(set), len(want), set)
	}
	for i, e := range set {
		if e.Cluster+"/"+e.Instance != want[i] || e.Override.Reason != reason {
			return fmt.Errorf("drain %d: %s/%s %q, want %s %q", i, e.Cluster, e.Instance, e.Override.Reason, want[i], reason)
		}
	}
	return nil
}

// A drain put through one replica reaches every replica's watch within a
// second; it survives every replica closing and opening again; a cluster
// of more instances than one transaction takes is drained whole; a
// malformed key in Consul is skipped, not fatal.
func TestDrainsShared(t *testing.T) {
	a := requireAgent(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	var nodes []*drainsNode
	for _, dir := range dirs {
		nodes = append(nodes, openDrains(t, a, dir))
	}
	runtest.Eventually(t, 5*time.Second, "every watch started", func() error {
		for i, n := range nodes {
			if _, hits := n.seen(); hits == 0 {
				return fmt.Errorf("watch %d not called yet", i)
			}
		}
		return nil
	})
	o := membership.Override{Reason: "kernel upgrade", By: "alice", Since: time.Now().Truncate(time.Second)}
	if err := nodes[0].d.Put("web", "10.0.0.1:8000", o); err != nil {
		t.Fatal(err)
	}
	took := runtest.Eventually(t, time.Second, "the drain on every replica", func() error {
		for i, n := range nodes {
			set, _ := n.seen()
			if err := holds(set, "kernel upgrade", "web/10.0.0.1:8000"); err != nil {
				return fmt.Errorf("replica %d: %w", i, err)
			}
		}
		return nil
	})
	t.Logf("a drain reached every replica's watch in %s", took)
	if got, ok, err := nodes[2].d.Get("web", "10.0.0.1:8000"); err != nil || !ok || got.By != "alice" {
		t.Fatalf("Get on another replica: %+v %v %v", got, ok, err)
	}
	if got, ok, err := nodes[2].cache.Get("web", "10.0.0.1:8000"); err != nil || !ok || got.Reason != o.Reason {
		t.Fatalf("another replica's cache: %+v %v %v", got, ok, err)
	}

	// A whole cluster: more keys than one transaction.
	var ids, want []string
	for i := range 100 {
		id := fmt.Sprintf("i%03d", i)
		ids, want = append(ids, id), append(want, "zone/"+id)
	}
	if err := nodes[1].d.PutMany("zone", ids, membership.Override{Reason: "zone move", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	runtest.Eventually(t, time.Second, "100 drains on every replica", func() error {
		for i, n := range nodes {
			set, _ := n.seen()
			if len(set) != 101 {
				return fmt.Errorf("replica %d holds %d drains", i, len(set))
			}
			var zone []overrides.Entry
			for _, e := range set {
				if e.Cluster == "zone" {
					zone = append(zone, e)
				}
			}
			if err := holds(zone, "zone move", want...); err != nil {
				return fmt.Errorf("replica %d: %w", i, err)
			}
		}
		return nil
	})
	if err := nodes[2].d.DeleteCluster("zone"); err != nil {
		t.Fatal(err)
	}
	// Bad input in Consul: skipped and logged; the rest still read.
	c, tr := consulClient(t, a)
	defer tr.CloseIdleConnections()
	if _, err := c.KV().Put(&consulapi.KVPair{Key: "vigil/drains/drains/web/bad", Value: []byte("{not json")}, nil); err != nil {
		t.Fatal(err)
	}
	runtest.Eventually(t, time.Second, "the cluster undrained on every replica", func() error {
		for i, n := range nodes {
			set, _ := n.seen()
			if err := holds(set, "kernel upgrade", "web/10.0.0.1:8000"); err != nil {
				return fmt.Errorf("replica %d: %w", i, err)
			}
		}
		return nil
	})

	// Every replica closes; the drain is still there when they open again.
	for _, n := range nodes {
		n.close()
	}
	for i, dir := range dirs {
		n := openDrains(t, a, dir)
		list, err := n.d.List()
		if err != nil {
			t.Fatal(err)
		}
		if err := holds(list, "kernel upgrade", "web/10.0.0.1:8000"); err != nil {
			t.Fatalf("replica %d after reopening: %v", i, err)
		}
		cached, err := n.cache.List()
		if err != nil {
			t.Fatal(err)
		}
		if err := holds(cached, "kernel upgrade", "web/10.0.0.1:8000"); err != nil {
			t.Fatalf("replica %d's cache after reopening: %v", i, err)
		}
		nodes[i] = n
	}
	if err := nodes[0].d.Delete("web", "10.0.0.1:8000"); err != nil {
		t.Fatal(err)
	}
	runtest.Eventually(t, time.Second, "the undrain on every replica", func() error {
		for i, n := range nodes {
			if set, _ := n.seen(); len(set) != 0 {
				return fmt.Errorf("replica %d: %+v", i, set)
			}
			if cached, _ := n.cache.List(); len(cached) != 0 {
				return fmt.Errorf("replica %d's cache: %+v", i, cached)
			}
		}
		return nil
	})
}

// With Consul stopped the cache answers reads, a watch that cannot reach
// Consul hands over the cached set, and a write fails rather than being
// kept by one replica only.
func TestDrainsCacheWhenConsulDown(t *testing.T) {
	a := ownAgent(t)
	dir := t.TempDir()
	n := openDrains(t, a, dir)
	if err := n.d.Put("web", "i1", membership.Override{Reason: "disk", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := n.d.Put("web", "i2", membership.Override{Reason: "disk", Since: time.Now(), Expires: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	runtest.Eventually(t, 2*time.Second, "the expiring drain lapses", func() error {
		if _, ok, err := n.d.Get("web", "i2"); err != nil || ok {
			return fmt.Errorf("still held (%v)", err)
		}
		return nil
	})
	a.Stop()
	list, err := n.d.List()
	if err != nil {
		t.Fatalf("List with Consul stopped: %v", err)
	}
	if err := holds(list, "disk", "web/i1"); err != nil {
		t.Fatalf("List with Consul stopped: %v", err)
	}
	if _, ok, err := n.d.Get("web", "i1"); err != nil || !ok {
		t.Fatalf("Get with Consul stopped: %v %v", ok, err)
	}
	if err := n.d.Put("web", "i3", membership.Override{Reason: "x"}); err == nil {
		t.Fatal("a Put with Consul stopped succeeded")
	}
	if _, ok, _ := n.cache.Get("web", "i3"); ok {
		t.Fatal("a Put Consul refused reached the cache")
	}
	n.close()
	again := openDrains(t, a, dir)
	runtest.Eventually(t, 5*time.Second, "a watch started without Consul hands over the cache", func() error {
		set, _ := again.seen()
		return holds(set, "disk", "web/i1")
	})
}
