package aggregator

import (
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Apply sets the desired clusters, for the first load and every reload.
// New instances start probing, spread evenly over their first interval;
// removed ones stop and leave the store; an instance whose ID, address and
// probes are unchanged keeps its state, connection and schedule (its
// weight, locality and metadata are updated in place). An error leaves
// everything as it was.
func (a *Aggregator) Apply(clusters []upstreams.Cluster) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	now := a.clock.Now()

	a.mu.RLock()
	old := a.clusters
	a.mu.RUnlock()

	// Build every new instance first, so an error changes nothing.
	next := make(map[string]*clusterState, len(clusters))
	var fresh []*instance
	var retired []*instance
	for ci := range clusters {
		spec := new(upstreams.Cluster)
		*spec = clusters[ci]
		if _, dup := next[spec.Name]; dup {
			return fmt.Errorf("apply: cluster %q listed twice", spec.Name)
		}
		prev := old[spec.Name]
		rebuilt := prev // instances whose manual drains carry over even when rebuilt
		if prev != nil && !sameProbing(prev.spec, spec) {
			prev = nil // probes changed: every instance starts over
		}
		cs := &clusterState{spec: spec, instances: make(map[string]*instance, len(spec.Instances))}
		for _, in := range spec.Instances {
			if _, dup := cs.instances[in.ID]; dup {
				closeAll(fresh)
				return fmt.Errorf("apply: cluster %q: instance %q listed twice", spec.Name, in.ID)
			}
			if prev != nil {
				if inst, ok := prev.instances[in.ID]; ok && sameTarget(inst, in) {
					cs.instances[in.ID] = inst
					continue
				}
			}
			inst, err := a.newInstance(spec, in, now)
			if err != nil {
				closeAll(fresh)
				return fmt.Errorf("apply: cluster %q instance %q: %w", spec.Name, in.ID, err)
			}
			if rebuilt != nil {
				if was, ok := rebuilt.instances[in.ID]; ok {
					was.mu.Lock()
					if was.override.Active(now) {
						o := *was.override
						inst.override, inst.status, inst.reason = &o, membership.StatusDraining, "manual drain: "+o.Reason
					}
					was.mu.Unlock()
				}
			}
			cs.instances[in.ID] = inst
			fresh = append(fresh, inst)
		}
		next[spec.Name] = cs
	}
	for name, prev := range old {
		for id, inst := range prev.instances {
			if cs, ok := next[name]; !ok || cs.instances[id] != inst {
				retired = append(retired, inst)
			}
		}
	}

	// Stop what left, publish every cluster, then start what is new.
	for _, inst := range retired {
		a.retire(inst)
	}
	a.mu.Lock()
	a.clusters = next
	a.mu.Unlock()
	for name, cs := range next {
		a.publishCluster(cs, old[name], now)
	}
	for name, prev := range old {
		if _, ok := next[name]; !ok {
			var events []membership.Event
			for _, inst := range prev.instances {
				events = append(events, removedEvent(inst, now))
			}
			a.opts.Store.RemoveCluster(name, events)
		}
	}
	for _, inst := range fresh {
		if inst.override != nil {
			a.rememberOverride(inst)
		}
	}
	a.schedule(fresh, now)
	return nil
}

// newInstance builds an instance with its probes, connections not yet open.
func (a *Aggregator) newInstance(spec *upstreams.Cluster, in upstreams.Instance, now time.Time) (*instance, error) {
	inst := &instance{cluster: spec.Name, spec: spec, inst: in, since: now,
		status: initialStatus(spec.InitialStatus), reason: "no probe result yet"}
	byAddr := map[string]probe.Checker{}
	build := func(name membership.ProbeName, p *upstreams.Probe) (*target, error) {
		if p == nil {
			return nil, nil
		}
		addr := in.ProbeAddress(p)
		key := string(p.Kind) + "|" + p.Scheme + "|" + addr
		ch, ok := byAddr[key]
		if !ok {
			var err error
			if ch, err = probe.NewChecker(p.Kind, p.Scheme, addr, a.checkerOpts); err != nil {
				return nil, err
			}
			byAddr[key] = ch
			inst.checkers = append(inst.checkers, ch)
		}
		req, err := probe.NewRequest(p, addr, probe.RequestOptions{CollectHeaders: p.Dialect == upstreams.DialectCEL})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ev, err := a.factory.New(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t := &target{inst: inst, name: name, spec: p, req: req, checker: ch, eval: ev, heapIdx: -1}
		if ac, ok := ch.(probe.AsyncChecker); ok && a.poller != nil && req.Kind() == upstreams.KindHTTP && p.Scheme != "https" {
			t.async = ac
			t.flight.Done = func(*probe.Flight) { a.flightDone(t) }
		}
		return t, nil
	}
	var err error
	if inst.live, err = build(membership.Liveness, spec.Liveness); err == nil {
		inst.ready, err = build(membership.Readiness, spec.Readiness)
	}
	if err != nil {
		inst.closeCheckers()
		return nil, err
	}
	pairSiblings(inst.live, inst.ready)
	return inst, nil
}

// pairSiblings lets an instance's two probes go out together when they
// are plain HTTP on the poller and share a connection.
func pairSiblings(a, b *target) {
	if a == nil || b == nil || a.async == nil || b.async == nil || a.checker != b.checker {
		return
	}
	a.sibling, b.sibling = b, a
	for _, t := range []*target{a, b} {
		t.pairSpan = jitterSpan(t.spec.Interval, t.spec.JitterPercent)
	}
}

// schedule queues new instances' first probes evenly over their interval, so
// a thousand new instances do not all probe in the same instant. An
// instance's two probes start together (they share its connection, and
// go out in one write once it is kept).
func (a *Aggregator) schedule(fresh []*instance, now time.Time) {
	var targets []*target
	for _, inst := range fresh {
		for _, t := range []*target{inst.live, inst.ready} {
			if t != nil {
				targets = append(targets, t)
			}
		}
	}
	if !a.applied {
		a.applied = true
		a.firstPending.Add(int64(len(targets)))
		for _, t := range targets {
			t.first = true
		}
		if len(targets) == 0 {
			a.firstOnce.Do(func() { close(a.firstDone) })
		}
	}
	for k, inst := range fresh {
		for _, t := range []*target{inst.live, inst.ready} {
			if t != nil {
				a.sched.add(t, now.Add(time.Duration(int64(t.spec.Interval)*int64(k)/int64(len(fresh)))))
			}
		}
	}
}

// retire stops an instance's probes; its connection closes when no probe
// of it is running.
func (a *Aggregator) retire(inst *instance) {
	inst.mu.Lock()
	if inst.run.retire() {
		inst.closeCheckers()
	}
	for _, t := range []*target{inst.live, inst.ready} {
		if t == nil {
			continue
		}
		a.sched.remove(t) // after retire: a probe finishing now does not queue it again
		if t.first {
			t.first = false
			a.firstResult()
		}
	}
	if inst.override != nil {
		inst.override = nil
		a.forgetOverride(inst)
	}
	inst.mu.Unlock()
}

// publishCluster writes the whole cluster into the store with added and
// removed events. Every instance is locked while its member is read, so no
// probe result slips between the read and the write.
func (a *Aggregator) publishCluster(cs *clusterState, prev *clusterState, now time.Time) {
	ids := make([]string, 0, len(cs.instances))
	for id := range cs.instances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	defs := make(map[string]upstreams.Instance, len(cs.spec.Instances))
	for _, in := range cs.spec.Instances {
		defs[in.ID] = in
	}
	var events []membership.Event
	members := make([]membership.Member, 0, len(ids))
	locked := make([]*instance, 0, len(ids))
	for _, id := range ids {
		inst := cs.instances[id]
		inst.mu.Lock()
		locked = append(locked, inst)
		inst.inst = defs[id]
		inst.spec = cs.spec
		members = append(members, inst.member())
		if prev == nil || prev.instances[id] != inst {
			events = append(events, membership.Event{Time: now, Kind: membership.EventAdded, Cluster: inst.cluster, Instance: id,
				Address: inst.inst.Address, From: inst.status, To: inst.status, Reason: "added"})
		}
	}
	if prev != nil {
		for id, inst := range prev.instances {
			if cs.instances[id] != inst {
				events = append(events, removedEvent(inst, now))
			}
		}
	}
	// Pending writes of this cluster are superseded by the whole list (their
	// events still count); holding flushMu keeps a batch already taken from
	// landing after it.
	a.commits.flushMu.Lock()
	events = append(a.commits.takeCluster(cs.spec.Name), events...)
	cur, exists := a.opts.Store.Cluster(cs.spec.Name)
	if !exists || len(events) > 0 || !reflect.DeepEqual(cur.Spec, cs.spec) || !sameMembers(cur.Members, members) {
		a.opts.Store.PutCluster(cs.spec, members, events)
	}
	a.commits.flushMu.Unlock()
	for _, inst := range locked {
		inst.mu.Unlock()
	}
}

func removedEvent(inst *instance, now time.Time) membership.Event {
	return membership.Event{Time: now, Kind: membership.EventRemoved, Cluster: inst.cluster, Instance: inst.inst.ID,
		Address: inst.inst.Address, From: inst.status, To: inst.status, Reason: "removed from config"}
}

// sameProbing reports whether two specs probe the same way.
func sameProbing(a, b *upstreams.Cluster) bool {
	return a.InitialStatus == b.InitialStatus && reflect.DeepEqual(a.Liveness, b.Liveness) &&
		reflect.DeepEqual(a.Readiness, b.Readiness)
}

// sameTarget reports whether inst can keep probing as in (same address).
func sameTarget(inst *instance, in upstreams.Instance) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.inst.Address == in.Address && inst.inst.ProbePort == in.ProbePort
}

func sameMembers(a []*membership.Member, b []membership.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(*a[i], b[i]) {
			return false
		}
	}
	return true
}

func closeAll(insts []*instance) {
	for _, inst := range insts {
		inst.mu.Lock()
		inst.closeCheckers()
		inst.mu.Unlock()
	}
}
