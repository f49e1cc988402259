package replicas

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// merger writes the merged store: one goroutine, the store's only writer.
// It follows the local store through a subscription (a changed member is
// a changed pointer) and the peers through the dirty set, and merges only
// the instances whose votes changed; when the set of voting peers changes
// it merges everything once.
type merger struct {
	r        *Replica
	sub      *membership.Subscription
	local    map[string]*membership.ClusterSnapshot // last local snapshot merged, per cluster
	voters   []*peer                                // peers voting now, sorted by ID
	first    bool                                   // the first local batch is merged
	disagree map[memberKey]struct{}
	votes    []vote // scratch
}

func newMerger(r *Replica) *merger {
	return &merger{r: r, sub: r.opts.Local.Subscribe(1 << 16), local: make(map[string]*membership.ClusterSnapshot),
		disagree: make(map[memberKey]struct{})}
}

func (r *Replica) runMerge(ctx context.Context, m *merger) {
	defer m.sub.Close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := m.step(r.opts.now())
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-m.sub.C():
		case <-r.dirty.C():
		case <-timer.C:
		}
	}
}

// step merges whatever changed and returns when it must look again even
// if nothing else happens (a silent peer's vote lapsing, the readiness
// wait ending); zero for never.
func (m *merger) step(now time.Time) time.Time {
	waiting := m.r.waitingFor() // before taking the dirty set: see ready
	keys := m.r.dirty.take()
	voters, lapse := m.r.eligible(now)
	full := !samePeers(voters, m.voters)
	m.voters = voters
	if b := m.sub.Next(); !b.Empty() {
		if b.Dropped > 0 {
			m.r.log.Warn("merged view: local events dropped (the merger fell behind)", "dropped", b.Dropped)
		}
		m.applyLocal(b, now)
	}
	if full {
		m.remergeAll(now)
	} else if len(keys) > 0 {
		m.mergeKeys(keys, now)
	}
	m.r.disagreements.Store(int64(len(m.disagree)))
	if deadline := m.r.ready.check(m.r, m.first, waiting, now); !deadline.IsZero() && (lapse.IsZero() || deadline.Before(lapse)) {
		lapse = deadline
	}
	return lapse
}

// eligible returns the peers that vote now (live, with a complete
// snapshot, and connected or heard within session_ttl) and the earliest
// time one of them stops voting unless heard again.
func (r *Replica) eligible(now time.Time) ([]*peer, time.Time) {
	var (
		out   []*peer
		lapse time.Time
	)
	for _, p := range r.peers.list() {
		st := p.state()
		if !st.hasView {
			continue
		}
		if st.connected {
			out = append(out, p)
			continue
		}
		until := st.lastHeard.Add(r.opts.SessionTTL)
		if now.Before(until) {
			out = append(out, p)
			if lapse.IsZero() || until.Before(lapse) {
				lapse = until
			}
		}
	}
	return out, lapse
}

func samePeers(a, b []*peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// applyLocal mirrors a batch of the local store: clusters that came, went
// or changed their spec or member set are written whole (PutCluster /
// RemoveCluster, with the local added/removed/override events restated
// in merged statuses); otherwise only the members whose pointer changed
// are merged again.
func (m *merger) applyLocal(b membership.Batch, now time.Time) {
	events := make(map[string][]membership.Event)
	var failSafe []membership.Event
	for _, ev := range b.Events {
		switch ev.Kind {
		case membership.EventTransition: // the merged view has its own
		case membership.EventFailSafe: // this replica's own hold, as it is
			ev.Seq = 0
			failSafe = append(failSafe, ev)
		default:
			events[ev.Cluster] = append(events[ev.Cluster], ev)
		}
	}
	merged := m.r.opts.Merged
	if len(failSafe) > 0 {
		merged.SetFailSafe(m.r.opts.Local.FailSafe(), failSafe)
	}
	for _, name := range b.Removed {
		delete(m.local, name)
		prev, _ := merged.Cluster(name)
		merged.RemoveCluster(name, restate(events[name], prev, nil))
		m.forgetCluster(name)
	}
	for _, c := range b.Changed {
		m.applyCluster(c, events[c.Name], now)
	}
	if !m.first {
		m.first = true
		for _, c := range merged.Clusters() { // left over from before: the local store is the truth
			if _, ok := m.local[c.Name]; !ok {
				merged.RemoveCluster(c.Name, nil)
			}
		}
	}
}

func (m *merger) applyCluster(c *membership.ClusterSnapshot, events []membership.Event, now time.Time) {
	old := m.local[c.Name]
	m.local[c.Name] = c
	prev, exists := m.r.opts.Merged.Cluster(c.Name)
	overrides := make(map[string][]membership.Event)
	for _, ev := range events {
		if ev.Kind == membership.EventOverride {
			overrides[ev.Instance] = append(overrides[ev.Instance], ev)
		}
	}
	if exists && old != nil && old.Spec == c.Spec && len(old.Members) == len(c.Members) &&
		m.applyMembers(c, old, prev, overrides, now) {
		return
	}
	members := make([]membership.Member, len(c.Members))
	var out []membership.Event
	for i, own := range c.Members {
		var was *membership.Member
		if exists {
			was = memberAt(prev, i, own.ID)
		}
		members[i] = m.mergeOne(c, own, was, now)
		out = append(out, memberEvents(c.Name, was, &members[i], overrides[own.ID], now)...)
	}
	var local []membership.Event
	for _, ev := range events {
		if ev.Kind != membership.EventOverride {
			local = append(local, ev)
		}
	}
	out = append(restate(local, prev, members), out...)
	for k := range m.disagree {
		if k.cluster == c.Name {
			if _, ok := c.Member(k.id); !ok {
				delete(m.disagree, k)
			}
		}
	}
	m.r.opts.Merged.PutCluster(c.Spec, members, out)
}

// applyMembers merges the members of c whose pointer differs from old's
// and writes those whose merged result changed, in one pass over the
// pointers (unchanged members are never dereferenced). It returns false,
// having written nothing, when the member set changed: the caller then
// writes the cluster whole.
func (m *merger) applyMembers(c, old, prev *membership.ClusterSnapshot, overrides map[string][]membership.Event, now time.Time) bool {
	var (
		changed []membership.Member
		out     []membership.Event
	)
	for i, own := range c.Members {
		if own == old.Members[i] {
			continue
		}
		if own.ID != old.Members[i].ID {
			return false
		}
		evs := overrides[own.ID]
		was := memberAt(prev, i, own.ID)
		mm := m.mergeOne(c, own, was, now)
		if memberChanged(was, &mm) || len(evs) > 0 {
			changed = append(changed, mm)
			out = append(out, memberEvents(c.Name, was, &mm, evs, now)...)
		}
	}
	if len(changed) > 0 || len(out) > 0 {
		m.r.opts.Merged.UpdateMembers(c.Name, changed, out)
	}
	return true
}

// mergeKeys merges the instances whose peer votes changed.
func (m *merger) mergeKeys(keys map[memberKey]struct{}, now time.Time) {
	byCluster := make(map[string][]string)
	for k := range keys {
		byCluster[k.cluster] = append(byCluster[k.cluster], k.id)
	}
	for name, ids := range byCluster {
		c := m.local[name]
		if c == nil {
			continue
		}
		members := make([]*membership.Member, 0, len(ids))
		for _, id := range ids {
			if own, ok := c.Member(id); ok {
				members = append(members, own)
			}
		}
		m.mergeMembers(c, members, now)
	}
}

// remergeAll merges every instance again (the voters changed).
func (m *merger) remergeAll(now time.Time) {
	clear(m.disagree)
	for _, c := range m.local {
		m.mergeMembers(c, c.Members, now)
	}
}

// mergeMembers merges some members of one local cluster and writes those
// whose merged result changed in one batch.
func (m *merger) mergeMembers(c *membership.ClusterSnapshot, members []*membership.Member, now time.Time) {
	prev, ok := m.r.opts.Merged.Cluster(c.Name)
	if !ok {
		return
	}
	var (
		changed []membership.Member
		out     []membership.Event
	)
	for _, own := range members {
		was, _ := prev.Member(own.ID)
		mm := m.mergeOne(c, own, was, now)
		if memberChanged(was, &mm) {
			changed = append(changed, mm)
			out = append(out, memberEvents(c.Name, was, &mm, nil, now)...)
		}
	}
	if len(changed) > 0 {
		m.r.opts.Merged.UpdateMembers(c.Name, changed, out)
	}
}

// mergeOne merges one instance over this replica's vote and the voting
// peers' that have a verdict for the same address.
func (m *merger) mergeOne(c *membership.ClusterSnapshot, own *membership.Member, prev *membership.Member, now time.Time) membership.Member {
	k := memberKey{c.Name, own.ID}
	// m.votes is a scratch buffer reused across instances.
	m.votes = append(m.votes[:0], vote{replica: m.r.opts.ID, verdict: own.Verdict, status: own.Status, reason: own.Reason})
	for _, p := range m.voters {
		if pm, ok := p.lookup(k); ok && pm.addr == own.Address {
			m.votes = append(m.votes, vote{replica: p.id, verdict: pm.verdict, status: pm.status, reason: pm.reason})
		}
	}
	votes := m.votes
	if agree(votes) {
		delete(m.disagree, k)
	} else {
		m.disagree[k] = struct{}{}
	}
	return mergeMember(m.r.opts.Quorum, own, c.Spec.InitialStatus, votes, prev, now)
}

func (m *merger) forgetCluster(name string) {
	for k := range m.disagree {
		if k.cluster == name {
			delete(m.disagree, k)
		}
	}
}

// memberAt finds a member in a merged snapshot, at index i when the
// snapshot lines up with the local one (it does, but for a new member).
func memberAt(c *membership.ClusterSnapshot, i int, id string) *membership.Member {
	if i < len(c.Members) && c.Members[i].ID == id {
		return c.Members[i]
	}
	m, _ := c.Member(id)
	return m
}

// memberChanged reports whether a merged member differs from the previous one.
func memberChanged(prev, m *membership.Member) bool {
	return prev == nil || prev.Status != m.Status || prev.Reason != m.Reason || prev.Verdict != m.Verdict ||
		!prev.Since.Equal(m.Since) || prev.Override != m.Override || prev.Address != m.Address ||
		!sameHold(prev.Held, m.Held)
}

func sameHold(a, b *membership.Hold) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cause == b.Cause && a.Reason == b.Reason && a.Since.Equal(b.Since)
}

// memberEvents are the merged view's events for one member: the local
// override events restated in merged statuses, else a transition when the
// merged status changed.
func memberEvents(cluster string, prev, m *membership.Member, overrides []membership.Event, now time.Time) []membership.Event {
	from := m.Status
	if prev != nil {
		from = prev.Status
	}
	if len(overrides) > 0 {
		out := make([]membership.Event, len(overrides))
		for i, ev := range overrides {
			ev.Seq, ev.From, ev.To = 0, from, m.Status
			out[i] = ev
		}
		return out
	}
	if prev == nil || prev.Status == m.Status {
		return nil
	}
	return []membership.Event{{Time: now, Kind: membership.EventTransition, Cluster: cluster, Instance: m.ID,
		Address: m.Address, From: prev.Status, To: m.Status, Reason: m.Reason}}
}

// restate gives local added/removed events the merged statuses: a removed
// instance's from prev (the merged cluster before), an added one's from
// members (the merged members after, sorted by ID).
func restate(events []membership.Event, prev *membership.ClusterSnapshot, members []membership.Member) []membership.Event {
	out := make([]membership.Event, 0, len(events))
	for _, ev := range events {
		ev.Seq = 0
		switch ev.Kind {
		case membership.EventRemoved:
			if prev != nil {
				if was, ok := prev.Member(ev.Instance); ok {
					ev.From, ev.To = was.Status, was.Status
				}
			}
		case membership.EventAdded:
			if mm := findMember(members, ev.Instance); mm != nil {
				ev.From, ev.To = mm.Status, mm.Status
			}
		}
		out = append(out, ev)
	}
	return out
}

func findMember(ms []membership.Member, id string) *membership.Member {
	i, ok := slices.BinarySearchFunc(ms, id, func(m membership.Member, id string) int { return strings.Compare(m.ID, id) })
	if !ok {
		return nil
	}
	return &ms[i]
}
