package aggregator

import (
	"reflect"
	"slices"
	"sync"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// committer batches member writes into the store. A writer enqueues its
// instance's new member and then commits; whoever commits takes everything
// pending, so while one commit copies a cluster, the transitions that
// arrive meanwhile share the next copy (group commit). Commit returns only
// once the caller's own change is in the store. Apply queues whole
// clusters (and removals) the same way, so every write reaches the store
// in the order it was queued.
type committer struct {
	store   *membership.Store
	flushMu sync.Mutex // held while a batch is written, and by Apply while it queues clusters
	mu      sync.Mutex // guards pending
	pending map[string]*pendingCluster
}

type pendingCluster struct {
	members map[string]membership.Member // latest member per ID
	events  []membership.Event           // in the order they happened
	// put, when set, replaces the whole cluster: this spec, with the
	// members of ids (sorted). remove drops the cluster instead.
	put    *upstreams.Cluster
	ids    []string
	remove bool
}

func newCommitter(store *membership.Store) *committer {
	return &committer{store: store, pending: make(map[string]*pendingCluster)}
}

// clusterLocked is cluster's pending entry, made if need be. c.mu is held.
func (c *committer) clusterLocked(cluster string) *pendingCluster {
	p := c.pending[cluster]
	if p == nil {
		p = &pendingCluster{members: make(map[string]membership.Member)}
		c.pending[cluster] = p
	}
	return p
}

// enqueue records a member change, with its events. The caller holds the
// instance's mu, so changes of one instance are enqueued in order.
func (c *committer) enqueue(cluster string, m membership.Member, evs ...membership.Event) {
	c.mu.Lock()
	p := c.clusterLocked(cluster)
	p.members[m.ID] = m
	p.events = append(p.events, evs...)
	c.mu.Unlock()
}

// put queues a whole cluster: spec, and the members of ids (sorted), each
// of which the caller enqueues next; events are recorded with it. The
// caller holds flushMu until those members are in (no batch may take the
// cluster without them).
func (c *committer) put(spec *upstreams.Cluster, ids []string, events ...membership.Event) {
	c.mu.Lock()
	p := c.clusterLocked(spec.Name)
	p.put, p.ids, p.remove = spec, ids, false
	p.events = append(p.events, events...)
	c.mu.Unlock()
}

// note records events of cluster that change no member.
func (c *committer) note(cluster string, events ...membership.Event) {
	c.mu.Lock()
	p := c.clusterLocked(cluster)
	p.events = append(p.events, events...)
	c.mu.Unlock()
}

// remove queues a cluster's removal, recording events (after those
// pending).
func (c *committer) remove(cluster string, events ...membership.Event) {
	c.mu.Lock()
	p := c.clusterLocked(cluster)
	p.remove, p.put, p.ids = true, nil, nil
	clear(p.members)
	p.events = append(p.events, events...)
	c.mu.Unlock()
}

// commit writes everything pending, one store update per cluster.
func (c *committer) commit() (wrote bool) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	return c.commitLocked()
}

// commitLocked is commit with flushMu held.
func (c *committer) commitLocked() (wrote bool) {
	c.mu.Lock()
	var batch map[string]*pendingCluster
	if len(c.pending) > 0 {
		batch, c.pending = c.pending, make(map[string]*pendingCluster)
	}
	c.mu.Unlock()
	for cluster, p := range batch {
		switch {
		case p.remove:
			c.store.RemoveCluster(cluster, p.events)
		case p.put != nil:
			c.putCluster(p)
		default:
			members := make([]membership.Member, 0, len(p.members))
			for _, m := range p.members {
				members = append(members, m)
			}
			c.store.UpdateMembers(cluster, members, p.events)
		}
	}
	return len(batch) > 0
}

// putCluster writes a whole cluster, unless the store has it already,
// spec and members alike, and there is no event to record.
func (c *committer) putCluster(p *pendingCluster) {
	members := make([]membership.Member, len(p.ids))
	for i, id := range p.ids {
		members[i] = p.members[id]
	}
	cur, exists := c.store.Cluster(p.put.Name)
	if exists && len(p.events) == 0 && reflect.DeepEqual(cur.Spec, p.put) &&
		slices.EqualFunc(cur.Members, members, func(a *membership.Member, b membership.Member) bool { return reflect.DeepEqual(*a, b) }) {
		return
	}
	c.store.PutCluster(p.put, members, p.events)
}
