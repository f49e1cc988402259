package membership

import (
	"slices"
	"sort"
	"sync"

	"github.com/vigilhq/vigil/upstreams"
)

// Store keeps the current membership of every cluster as immutable,
// versioned snapshots and fans changes out to subscribers. A change to one
// cluster costs O(that cluster). Writers never block on subscribers: each
// subscription coalesces what it has not yet read.
type Store struct {
	mu       sync.RWMutex
	version  uint64
	clusters map[string]*ClusterSnapshot
	log      *eventLog
	subs     map[*Subscription]struct{}
	failSafe FailSafe
}

// NewStore returns an empty store that keeps the last historySize events.
func NewStore(historySize int) *Store {
	if historySize <= 0 {
		historySize = 10000
	}
	return &Store{
		clusters: make(map[string]*ClusterSnapshot),
		log:      newEventLog(historySize),
		subs:     make(map[*Subscription]struct{}),
	}
}

// Version is the sequence number of the latest change.
func (s *Store) Version() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Cluster returns the current snapshot of one cluster.
func (s *Store) Cluster(name string) (*ClusterSnapshot, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clusters[name]
	return c, ok
}

// Clusters returns the current snapshot of every cluster, sorted by name.
func (s *Store) Clusters() []*ClusterSnapshot {
	s.mu.RLock()
	out := make([]*ClusterSnapshot, 0, len(s.clusters))
	for _, c := range s.clusters {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Events returns history newest first; see EventQuery.
func (s *Store) Events(q EventQuery) []Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log.query(q)
}

// EventsAfter returns events with Seq > seq, oldest first, and whether the
// history still held every one of them (false: some were evicted).
func (s *Store) EventsAfter(seq uint64) ([]Event, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log.after(seq)
}

// PutCluster sets a cluster's spec and whole member list (sorted here by
// ID), recording events. It is how clusters appear and how instances are
// added or removed.
func (s *Store) PutCluster(spec *upstreams.Cluster, members []Member, events []Event) *ClusterSnapshot {
	snap := NewSnapshot(spec, members)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	snap.Version = s.version
	s.clusters[spec.Name] = snap
	s.publishLocked(snap, "", events)
	return snap
}

// RemoveCluster drops a cluster, recording events.
func (s *Store) RemoveCluster(name string, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clusters[name]; !ok {
		return
	}
	s.version++
	delete(s.clusters, name)
	s.publishLocked(nil, name, events)
}

// UpdateMember replaces one member of a cluster when update, given the
// current member, returns changed=true. It returns false when the cluster
// or member is gone or nothing changed. The new snapshot shares nothing
// mutable with the old one.
func (s *Store) UpdateMember(cluster, id string, update func(m *Member) (ev *Event, changed bool)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clusters[cluster]
	if !ok {
		return false
	}
	idx, found := memberIndex(old.Members, id)
	if !found {
		return false
	}
	m := *old.Members[idx]
	ev, changed := update(&m)
	if !changed {
		return false
	}
	members := slices.Clone(old.Members)
	members[idx] = &m
	var events []Event
	if ev != nil {
		events = []Event{*ev}
	}
	s.replaceLocked(old, members, events)
	return true
}

// UpdateMembers replaces several members of one cluster (matched by ID;
// unknown IDs are skipped) and records events, copying the pointer list
// once: a burst of transitions in one cluster costs O(cluster) pointers,
// not O(cluster) per transition. The new snapshot keeps pointers into
// members, which the caller must not change afterwards. It returns how
// many members it replaced.
func (s *Store) UpdateMembers(cluster string, members []Member, events []Event) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clusters[cluster]
	if !ok {
		return 0
	}
	next := slices.Clone(old.Members)
	n := 0
	for i := range members {
		if idx, found := memberIndex(next, members[i].ID); found {
			next[idx] = &members[i] // members is the caller's to give away
			n++
		}
	}
	if n == 0 && len(events) == 0 {
		return 0
	}
	s.replaceLocked(old, next, events)
	return n
}

// replaceLocked publishes a new snapshot of old's cluster. s.mu is held.
func (s *Store) replaceLocked(old *ClusterSnapshot, members []*Member, events []Event) {
	s.version++
	snap := &ClusterSnapshot{Name: old.Name, Version: s.version, Spec: old.Spec, Members: members}
	s.clusters[old.Name] = snap
	s.publishLocked(snap, "", events)
}

func memberIndex(ms []*Member, id string) (int, bool) {
	return slices.BinarySearchFunc(ms, id, func(m *Member, id string) int {
		switch {
		case m.ID < id:
			return -1
		case m.ID > id:
			return 1
		}
		return 0
	})
}

// publishLocked records events and tells every subscriber. s.mu is held.
func (s *Store) publishLocked(changed *ClusterSnapshot, removed string, events []Event) {
	for i := range events {
		events[i] = s.log.append(events[i])
	}
	for sub := range s.subs {
		sub.offer(s.version, changed, removed, events)
	}
}

// Subscribe returns a subscription whose first batch holds every current
// cluster. maxEvents bounds the events it buffers between reads; past it,
// events are dropped and counted (snapshots are never dropped).
func (s *Store) Subscribe(maxEvents int) *Subscription {
	if maxEvents <= 0 {
		maxEvents = 4096
	}
	sub := &Subscription{
		store:     s,
		notify:    make(chan struct{}, 1),
		changed:   make(map[string]*ClusterSnapshot),
		removed:   make(map[string]struct{}),
		maxEvents: maxEvents,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.clusters {
		sub.changed[name] = c
	}
	sub.version = s.version
	sub.lastSeq = s.log.lastSeq()
	s.subs[sub] = struct{}{}
	sub.signal()
	return sub
}

func sortMembers(ms []Member) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
}
