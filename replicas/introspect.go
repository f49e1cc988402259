package replicas

import (
	"sort"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// ReplicaInfo describes one replica as this one sees it.
type ReplicaInfo struct {
	ID        string    `json:"id"`
	Advertise string    `json:"advertise"`
	Started   time.Time `json:"started,omitzero"`
	Self      bool      `json:"self"`
	// Live: registered in Consul (the last registry read).
	Live bool `json:"live"`
	// Writer: holds the catalog writer lock.
	Writer bool `json:"writer"`
	// Connected: its stream is open and past its snapshot (self: true).
	Connected bool `json:"connected"`
	// Voting: its verdicts count in this replica's merge now.
	Voting bool `json:"voting"`
	// LastHeard: the last line of its stream (self: zero).
	LastHeard     time.Time `json:"last_heard,omitzero"`
	BytesReceived uint64    `json:"bytes_received"`
	Error         string    `json:"error,omitempty"` // why its stream last ended
}

// Replicas lists this replica and every other one it knows, sorted by ID.
func (r *Replica) Replicas() []ReplicaInfo {
	entries, _ := r.reg.snapshot()
	holder := r.holderSession()
	now := r.opts.now()
	voting := make(map[string]bool)
	voters, _ := r.eligible(now)
	for _, p := range voters {
		voting[p.id] = true
	}
	self := ReplicaInfo{ID: r.opts.ID, Advertise: r.opts.Advertise, Started: r.started, Self: true,
		Writer: r.IsWriter(), Connected: true, Voting: true}
	_, self.Live = r.sess.valid(now)
	out := []ReplicaInfo{self}
	seen := map[string]bool{r.opts.ID: true}
	for id, e := range entries {
		if seen[id] {
			continue
		}
		seen[id] = true
		info := ReplicaInfo{ID: id, Advertise: e.Advertise, Started: e.Started, Live: true,
			Writer: holder != "" && e.session == holder, Voting: voting[id]}
		if p := r.peers.get(id); p != nil {
			st := p.state()
			info.Connected, info.LastHeard, info.Error = st.connected, st.lastHeard, st.lastErr
			info.BytesReceived = p.bytesIn.Load()
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Vote is one replica's verdict on one instance.
type Vote struct {
	Replica string             `json:"replica"`
	Self    bool               `json:"self"`
	Voting  bool               `json:"voting"` // counts in the merge now
	Verdict membership.Verdict `json:"verdict"`
	Status  membership.Status  `json:"status"`
	Reason  string             `json:"reason"`
}

// InstanceVotes is each replica's verdict on one instance next to the
// merged one.
type InstanceVotes struct {
	Cluster  string             `json:"cluster"`
	Instance string             `json:"instance"`
	Merged   membership.Verdict `json:"merged_verdict"`
	Status   membership.Status  `json:"merged_status"`
	Reason   string             `json:"merged_reason"`
	Votes    []Vote             `json:"votes"`
}

// Votes returns every replica's verdict on one instance (peers that have
// none for its address are left out) and the merged result;
// membership.ErrNotFound for an instance not in the local store.
func (r *Replica) Votes(cluster, instance string) (InstanceVotes, error) {
	c, ok := r.opts.Local.Cluster(cluster)
	if !ok {
		return InstanceVotes{}, membership.ErrNotFound
	}
	own, ok := c.Member(instance)
	if !ok {
		return InstanceVotes{}, membership.ErrNotFound
	}
	out := InstanceVotes{Cluster: cluster, Instance: instance,
		Votes: []Vote{{Replica: r.opts.ID, Self: true, Voting: true, Verdict: own.Verdict, Status: own.Status, Reason: own.Reason}}}
	if mc, ok := r.opts.Merged.Cluster(cluster); ok {
		if mm, ok := mc.Member(instance); ok {
			out.Merged, out.Status, out.Reason = mm.Verdict, mm.Status, mm.Reason
		}
	}
	voting := make(map[*peer]bool)
	voters, _ := r.eligible(r.opts.now())
	for _, p := range voters {
		voting[p] = true
	}
	for _, p := range r.peers.list() {
		if pm, ok := p.lookup(memberKey{cluster, instance}); ok && pm.addr == own.Address {
			out.Votes = append(out.Votes, Vote{Replica: p.id, Voting: voting[p], Verdict: pm.verdict, Status: pm.status, Reason: pm.reason})
		}
	}
	return out, nil
}

// Disagreements is how many instances the voting replicas do not all
// give the same verdict (replicas with no verdict yet aside).
func (r *Replica) Disagreements() int { return int(r.disagreements.Load()) }

// Stats are the stream counters, for metrics.
type Stats struct {
	BytesSent          uint64 // every line served to peers
	HeartbeatBytesSent uint64 // of which heartbeats
	BytesReceived      uint64 // every line read from peers
	StreamsServed      int    // streams open to peers now
}

// Stats returns the stream counters.
func (r *Replica) Stats() Stats {
	return Stats{BytesSent: r.stats.sent.Load(), HeartbeatBytesSent: r.stats.heartbeatSent.Load(),
		BytesReceived: r.stats.received.Load(), StreamsServed: int(r.stats.streams.Load())}
}
