package replicas

import (
	"context"
	"sort"
	"sync"
)

// peerSet holds a stream per other live replica, following the registry.
type peerSet struct {
	r  *Replica
	mu sync.Mutex
	m  map[string]*peer
}

func newPeerSet(r *Replica) *peerSet { return &peerSet{r: r, m: make(map[string]*peer)} }

// sync starts a stream for each other replica in entries (again when its
// address changed) and stops those no longer there.
func (s *peerSet) sync(ctx context.Context, entries map[string]registered) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.m {
		if e, ok := entries[id]; !ok || e.Advertise != p.advertise {
			s.stopLocked(id, p)
		}
	}
	for id, e := range entries {
		if id == s.r.opts.ID || s.m[id] != nil || ctx.Err() != nil {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		p := &peer{r: s.r, id: id, advertise: e.Advertise, cancel: cancel, done: make(chan struct{})}
		s.m[id] = p
		s.r.log.Info("replica peer appeared", "peer", id, "advertise", e.Advertise)
		go p.run(pctx)
	}
}

func (s *peerSet) stopLocked(id string, p *peer) {
	p.cancel()
	<-p.done
	delete(s.m, id)
	s.r.log.Info("replica peer gone", "peer", id)
	s.r.dirty.wake()
}

// stopAll stops every stream and waits for them.
func (s *peerSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.m {
		s.stopLocked(id, p)
	}
}

// list returns the peers sorted by ID.
func (s *peerSet) list() []*peer {
	s.mu.Lock()
	out := make([]*peer, 0, len(s.m))
	for _, p := range s.m {
		out = append(out, p)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (s *peerSet) get(id string) *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}
