package aggregator

import (
	"sync"

	"github.com/vigilhq/vigil/membership"
)

// committer batches member writes into the store. A writer enqueues its
// instance's new member and then commits; whoever commits takes everything
// pending, so while one commit copies a cluster, the transitions that
// arrive meanwhile share the next copy (group commit). Commit returns only
// once the caller's own change is in the store.
//
// Lock order: instance.mu, then committer.flushMu, then committer.mu, then
// the store's.
type committer struct {
	store   *membership.Store
	flushMu sync.Mutex // held while a batch is written, and by Apply
	mu      sync.Mutex // guards pending
	pending map[string]*pendingCluster
}

type pendingCluster struct {
	members map[string]membership.Member // latest member per ID
	events  []membership.Event           // in the order they happened
}

func newCommitter(store *membership.Store) *committer {
	return &committer{store: store, pending: make(map[string]*pendingCluster)}
}

// enqueue records a member change. The caller holds the instance's mu, so
// changes of one instance are enqueued in order.
func (c *committer) enqueue(cluster string, m membership.Member, ev membership.Event) {
	c.mu.Lock()
	p := c.pending[cluster]
	if p == nil {
		p = &pendingCluster{members: make(map[string]membership.Member)}
		c.pending[cluster] = p
	}
	p.members[m.ID] = m
	p.events = append(p.events, ev)
	c.mu.Unlock()
}

// commit writes everything pending, one store update per cluster.
func (c *committer) commit() (wrote bool) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	var batch map[string]*pendingCluster
	if len(c.pending) > 0 {
		batch, c.pending = c.pending, make(map[string]*pendingCluster)
	}
	c.mu.Unlock()
	for cluster, p := range batch {
		members := make([]membership.Member, 0, len(p.members))
		for _, m := range p.members {
			members = append(members, m)
		}
		c.store.UpdateMembers(cluster, members, p.events)
	}
	return len(batch) > 0
}

// takeCluster removes and returns what is pending for one cluster. The
// caller holds flushMu (Apply, about to write the whole cluster).
func (c *committer) takeCluster(cluster string) []membership.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[cluster]
	delete(c.pending, cluster)
	if p == nil {
		return nil
	}
	return p.events
}
