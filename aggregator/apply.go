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

	next, fresh, err := a.build(clusters, old, now)
	if err != nil {
		return err
	}
	// Stop what left, publish every cluster, then start what is new.
	for _, inst := range leaving(old, next) {
		a.retire(inst, now)
	}
	for _, inst := range fresh {
		inst.guardMark = a.guard.add(inst.cluster, inst, now)
		inst.ejMark = inst.ej.add(inst)
		if inst.restored {
			countRestoredOut(inst, now)
		}
	}
	a.mu.Lock()
	a.clusters = next
	a.mu.Unlock()
	a.publish(next, old, now)
	for _, cs := range next {
		a.redo.add(cs.ej.configure(cs.spec.MaxEjectionPercent)...)
	}
	a.guard.setWindow(failSafeWindow(clusters), now)
	for _, inst := range fresh {
		if inst.override != nil {
			a.rememberOverride(inst)
		}
	}
	a.schedule(fresh, now)
	return nil
}

// build makes the clusters' states: an instance that can keep probing is
// kept, the others are new (fresh, their connections not yet open, their
// manual drains carried over). It changes nothing: on an error, what it
// built is closed.
func (a *Aggregator) build(clusters []upstreams.Cluster, old map[string]*clusterState, now time.Time) (next map[string]*clusterState, fresh []*instance, err error) {
	next = make(map[string]*clusterState, len(clusters))
	defer func() {
		if err != nil {
			closeAll(fresh)
		}
	}()
	for ci := range clusters {
		spec := new(upstreams.Cluster)
		*spec = clusters[ci]
		if _, dup := next[spec.Name]; dup {
			return nil, fresh, fmt.Errorf("apply: cluster %q listed twice", spec.Name)
		}
		prev := old[spec.Name]
		kept := prev
		if prev != nil && !sameProbing(prev.spec, spec) {
			kept = nil // probes changed: every instance starts over
		}
		cs := &clusterState{spec: spec, instances: make(map[string]*instance, len(spec.Instances))}
		if prev != nil {
			cs.ej = prev.ej // its count of instances out goes on
		} else {
			cs.ej = newEjector(spec.MaxEjectionPercent)
		}
		for _, in := range spec.Instances {
			if _, dup := cs.instances[in.ID]; dup {
				return nil, fresh, fmt.Errorf("apply: cluster %q: instance %q listed twice", spec.Name, in.ID)
			}
			if kept != nil {
				if inst, ok := kept.instances[in.ID]; ok && sameTarget(inst, in) {
					cs.instances[in.ID] = inst
					continue
				}
			}
			inst, err := a.newInstance(spec, in, now)
			if err != nil {
				return nil, fresh, fmt.Errorf("apply: cluster %q instance %q: %w", spec.Name, in.ID, err)
			}
			if prev != nil {
				carryDrain(prev.instances[in.ID], inst, now)
			} else if !a.applied && a.opts.Restore != nil {
				if m, ok := a.opts.Restore(spec, in); ok {
					inst.restore(m)
				}
			}
			inst.ej = cs.ej
			cs.instances[in.ID] = inst
			fresh = append(fresh, inst)
		}
		next[spec.Name] = cs
	}
	return next, fresh, nil
}

// carryDrain gives inst, which replaces was (nil: none), was's manual
// drain if it is still on.
func carryDrain(was, inst *instance, now time.Time) {
	if was == nil {
		return
	}
	was.mu.Lock()
	defer was.mu.Unlock()
	if was.override.Active(now) {
		o := *was.override
		inst.override, inst.status, inst.reason = &o, membership.StatusDraining, "manual drain: "+o.Reason
	}
}

// leaving lists the instances of old that next does not keep.
func leaving(old, next map[string]*clusterState) []*instance {
	var out []*instance
	for name, prev := range old {
		for id, inst := range prev.instances {
			if cs, ok := next[name]; !ok || cs.instances[id] != inst {
				out = append(out, inst)
			}
		}
	}
	return out
}

// publish writes every cluster of next into the store, with added and
// removed events, and removes the clusters of old that next lacks, in one
// commit. It holds the committer's flush lock throughout, so no batch of
// probe results lands between its reading of a member and its writing of
// the cluster: a result that comes meanwhile is queued after the member it
// replaces, and written with the cluster or after it. It locks one
// instance at a time.
func (a *Aggregator) publish(next, old map[string]*clusterState, now time.Time) {
	a.commits.flushMu.Lock()
	defer a.commits.flushMu.Unlock()
	for name, cs := range next {
		a.queueCluster(cs, old[name], now)
	}
	for name, prev := range old {
		if _, ok := next[name]; !ok {
			var events []membership.Event
			for _, inst := range prev.instances {
				events = append(events, removedEvent(inst, now))
			}
			a.commits.remove(name, events...)
		}
	}
	a.commits.commitLocked()
}

// queueCluster queues cs whole for the committer, each instance's member
// updated to its definition, with an added event for each instance prev
// (nil: none) did not have and a removed event for each it had that cs
// has not. The caller holds the committer's flushMu.
func (a *Aggregator) queueCluster(cs *clusterState, prev *clusterState, now time.Time) {
	ids := make([]string, 0, len(cs.instances))
	for id := range cs.instances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	defs := make(map[string]upstreams.Instance, len(cs.spec.Instances))
	for _, in := range cs.spec.Instances {
		defs[in.ID] = in
	}
	a.commits.put(cs.spec, ids)
	for _, id := range ids {
		inst := cs.instances[id]
		inst.mu.Lock()
		inst.inst = defs[id]
		inst.spec = cs.spec
		if prev == nil || prev.instances[id] != inst {
			a.enqueueMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventAdded,
				From: inst.status, To: inst.status, Reason: addedReason(inst)})
		} else {
			a.enqueueMemberLocked(inst)
		}
		inst.mu.Unlock()
	}
	if prev == nil {
		return
	}
	for id, inst := range prev.instances {
		if cs.instances[id] != inst {
			a.commits.note(cs.spec.Name, removedEvent(inst, now))
		}
	}
}

// newInstance builds an instance with its probes, connections not yet open.
func (a *Aggregator) newInstance(spec *upstreams.Cluster, in upstreams.Instance, now time.Time) (*instance, error) {
	inst := &instance{cluster: spec.Name, spec: spec, inst: in, since: now,
		status: membership.InitialStatus(spec.InitialStatus), reason: "no probe result yet"}
	byAddr := map[string]probe.Checker{}
	build := func(name membership.ProbeName, p *upstreams.Probe) (*target, error) {
		if p == nil {
			return nil, nil
		}
		addr := in.ProbeAddress(p)
		key := probe.CheckerKey(p, addr)
		ch, ok := byAddr[key]
		if !ok {
			var err error
			if ch, err = probe.NewProbeChecker(p, addr, a.checkerOpts); err != nil {
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
		if ac, ok := ch.(probe.AsyncChecker); ok && a.poller != nil && req.Polled() {
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
// go out in one write once it is kept). At the first Apply, every probe of
// an instance that was not restored counts towards FirstRound.
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
		pending := int64(0)
		for _, t := range targets {
			if !t.inst.restored { // a restored instance's verdict is known
				t.first = true
				pending++
			}
		}
		a.firstPending.Add(pending)
		if pending == 0 {
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
// of it is running. The fail-safe and the ejection cap forget it (a place
// it held out of rotation goes to the instance that waited longest).
func (a *Aggregator) retire(inst *instance, now time.Time) {
	inst.mu.Lock()
	if inst.run.retire() {
		inst.closeCheckers()
	}
	a.guard.remove(inst.guardMark, inst, now)
	a.redo.add(inst.ej.remove(inst.ejMark)...)
	for _, t := range []*target{inst.live, inst.ready} {
		if t == nil {
			continue
		}
		a.sched.remove(t) // after retire: a probe finishing now does not queue it again
		if t.first {
			t.first = false
			a.firstResults(1)
		}
	}
	if inst.override != nil {
		inst.override = nil
		a.forgetOverride(inst)
	}
	inst.mu.Unlock()
}

// removedEvent records that inst, retired, left the configuration.
func removedEvent(inst *instance, now time.Time) membership.Event {
	inst.mu.Lock()
	defer inst.mu.Unlock()
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

func closeAll(insts []*instance) {
	for _, inst := range insts {
		inst.mu.Lock()
		inst.closeCheckers()
		inst.mu.Unlock()
	}
}
