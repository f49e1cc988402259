package replicas

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	consulapi "github.com/hashicorp/consul/api"
)

// member of the registry: a replica whose key is held by a live session.
type registered struct {
	registration
	session string
}

// registry is the last known set of live replicas (self included). While
// Consul cannot be read it keeps the last answer.
type registry struct {
	mu      sync.Mutex
	known   bool // read at least once
	entries map[string]registered
}

func (g *registry) snapshot() (map[string]registered, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entries, g.known
}

func (g *registry) set(entries map[string]registered) {
	g.mu.Lock()
	g.entries, g.known = entries, true
	g.mu.Unlock()
}

// watchRegistry follows vigil/<deployment>/replicas/ with blocking queries
// (the prefix holds a few small keys) and starts or stops a peer stream
// for each other live replica.
func (r *Replica) watchRegistry(ctx context.Context) {
	prefix := r.keys.replicas()
	w := prefixWatch{kv: r.opts.Consul.KV(), prefix: prefix, log: r.log, what: "the replica registry (keeping the last known replicas)"}
	w.run(ctx, func(pairs consulapi.KVPairs) {
		entries := r.parseRegistry(prefix, pairs)
		r.reg.set(entries)
		r.peers.sync(ctx, entries)
		r.dirty.wake()
		if id, _, _ := r.sess.current(); id != "" && entries[r.opts.ID].session != id {
			r.sess.poke() // our key is gone or not ours: is the session?
		}
	})
}

func (r *Replica) parseRegistry(prefix string, pairs consulapi.KVPairs) map[string]registered {
	out := make(map[string]registered, len(pairs))
	for _, p := range pairs {
		if p.Session == "" {
			continue
		}
		id, err := url.PathUnescape(strings.TrimPrefix(p.Key, prefix))
		var reg registration
		if err == nil {
			err = json.Unmarshal(p.Value, &reg)
		}
		if err != nil || reg.ID != id || reg.Advertise == "" {
			r.log.Warn("ignoring a malformed replica registration", "key", p.Key, "error", err)
			continue
		}
		out[id] = registered{registration: reg, session: p.Session}
	}
	return out
}
