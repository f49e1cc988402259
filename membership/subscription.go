package membership

import (
	"sort"
	"sync"
)

// Batch is what a subscriber has not yet seen, coalesced: the latest
// snapshot of every cluster that changed, the clusters removed, and the
// events in order.
type Batch struct {
	Version uint64             // store version this batch brings the subscriber to
	Changed []*ClusterSnapshot // sorted by name
	Removed []string           // sorted
	Events  []Event            // oldest first
	Dropped int                // events lost because the subscriber fell behind
}

// Empty reports whether the batch carries nothing.
func (b Batch) Empty() bool {
	return len(b.Changed) == 0 && len(b.Removed) == 0 && len(b.Events) == 0 && b.Dropped == 0
}

// Subscription delivers store changes to one publisher, in order, without
// ever blocking the store's writers.
type Subscription struct {
	store     *Store
	notify    chan struct{}
	mu        sync.Mutex
	version   uint64
	lastSeq   uint64
	changed   map[string]*ClusterSnapshot
	removed   map[string]struct{}
	events    []Event
	maxEvents int
	dropped   int
	closed    bool
}

// C is signalled when a batch is waiting. Call Next after each signal.
func (s *Subscription) C() <-chan struct{} { return s.notify }

// Next returns and clears what is pending. It does not block.
func (s *Subscription) Next() Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{Version: s.version, Events: s.events, Dropped: s.dropped}
	for _, c := range s.changed {
		b.Changed = append(b.Changed, c)
	}
	for name := range s.removed {
		b.Removed = append(b.Removed, name)
	}
	sort.Slice(b.Changed, func(i, j int) bool { return b.Changed[i].Name < b.Changed[j].Name })
	sort.Strings(b.Removed)
	clear(s.changed)
	clear(s.removed)
	s.events = nil
	s.dropped = 0
	return b
}

// Close stops delivery. It is safe to call more than once.
func (s *Subscription) Close() {
	s.store.mu.Lock()
	delete(s.store.subs, s)
	s.store.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// offer merges one change into the pending batch. Called with store.mu held.
func (s *Subscription) offer(version uint64, changed *ClusterSnapshot, removed string, events []Event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.version = version
	if changed != nil {
		s.changed[changed.Name] = changed
		delete(s.removed, changed.Name)
	}
	if removed != "" {
		delete(s.changed, removed)
		s.removed[removed] = struct{}{}
	}
	for _, ev := range events {
		if len(s.events) >= s.maxEvents {
			s.dropped++
			continue
		}
		s.events = append(s.events, ev)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}
