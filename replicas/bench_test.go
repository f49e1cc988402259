package replicas

import (
	"fmt"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
)

// benchShapes are 10,000 instances in one cluster (the worst case: a
// change copies the cluster's pointer list) and in ten.
var benchShapes = []struct {
	clusters, size int
}{{1, 10000}, {10, 1000}}

// benchMerger is a replica's merger over clusters x size instances with
// two connected peers whose views hold every instance: three replicas, no
// Consul, no streams.
func benchMerger(b *testing.B, clusters, size int) (*Replica, *merger, []*peer) {
	b.Helper()
	c, err := consulapi.NewClient(consulapi.DefaultConfig()) // never called
	if err != nil {
		b.Fatal(err)
	}
	local := membership.NewStore(1000)
	for i := range clusters {
		spec, ms := fleet(fmt.Sprintf("c%d", i), size)
		local.PutCluster(spec, ms, nil)
	}
	r, err := New(Options{ID: "a", Advertise: "127.0.0.1:1", Consul: c, Local: local, Merged: membership.NewStore(1000), Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	r.runStarted = time.Now()
	r.reg.set(map[string]registered{}) // as if read from Consul
	var peers []*peer
	for _, id := range []string{"b", "c"} {
		p := &peer{r: r, id: id, view: make(map[memberKey]peerMember, clusters*size), connected: true, lastHeard: time.Now(), snapshots: 1}
		for _, snap := range local.Clusters() {
			for _, m := range snap.Members {
				p.view[memberKey{snap.Name, m.ID}] = compact(m)
			}
		}
		r.peers.m[id] = p
		peers = append(peers, p)
	}
	m := newMerger(r)
	b.Cleanup(m.sub.Close)
	m.step(time.Now())
	if ready, why := r.Ready(); !ready {
		b.Fatalf("not ready: %s", why)
	}
	return r, m, peers
}

// transition i of a benchmark: which instance, and the verdict it takes
// (draining on the first pass over the fleet, healthy on the next).
func transition(i, clusters, size int) (memberKey, membership.Verdict) {
	k := memberKey{fmt.Sprintf("c%d", i%clusters), inst((i / clusters) % size)}
	if (i/(clusters*size))%2 == 0 {
		return k, draining
	}
	return k, healthy
}

// One replica's own transition (the local store's write included), merged
// over three replicas' votes and written to the merged store.
func BenchmarkMergeOwnTransition(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.clusters, sh.size), func(b *testing.B) {
			r, m, _ := benchMerger(b, sh.clusters, sh.size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k, v := transition(i, sh.clusters, sh.size)
				r.opts.Local.UpdateMember(k.cluster, k.id, func(mm *membership.Member) (*membership.Event, bool) {
					mm.Verdict, mm.Status = v, membership.Decide(v, "", false)
					return &membership.Event{Kind: membership.EventTransition, Cluster: k.cluster, Instance: k.id}, true
				})
				m.step(time.Now())
			}
			b.StopTimer()
			checkLast(b, r, b.N, sh.clusters, sh.size)
		})
	}
}

// The local store's write alone, as a single vigil pays it: the baseline
// of BenchmarkMergeOwnTransition.
func BenchmarkLocalStoreTransition(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.clusters, sh.size), func(b *testing.B) {
			local := membership.NewStore(1000)
			for i := range sh.clusters {
				spec, ms := fleet(fmt.Sprintf("c%d", i), sh.size)
				local.PutCluster(spec, ms, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k, v := transition(i, sh.clusters, sh.size)
				local.UpdateMember(k.cluster, k.id, func(mm *membership.Member) (*membership.Event, bool) {
					mm.Verdict, mm.Status = v, membership.Decide(v, "", false)
					return &membership.Event{Kind: membership.EventTransition, Cluster: k.cluster, Instance: k.id}, true
				})
			}
		})
	}
}

// A peer's transition (as its stream delivers it), merged and written.
func BenchmarkMergePeerTransition(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.clusters, sh.size), func(b *testing.B) {
			r, m, peers := benchMerger(b, sh.clusters, sh.size)
			p := peers[0]
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k, v := transition(i, sh.clusters, sh.size)
				pm, _ := p.lookup(k)
				pm.verdict = v
				p.set(k, pm)
				m.step(time.Now())
			}
			b.StopTimer()
			checkLast(b, r, b.N, sh.clusters, sh.size)
		})
	}
}

// checkLast: the last transition is in the merged store (a drain seen by
// one replica is published).
func checkLast(b *testing.B, r *Replica, n, clusters, size int) {
	k, v := transition(n-1, clusters, size)
	want := membership.Decide(v, "", false)
	c, _ := r.opts.Merged.Cluster(k.cluster)
	if m, ok := c.Member(k.id); !ok || m.Status != want {
		b.Fatalf("the last transition (%v -> %s) is not merged: %+v", k, want, m)
	}
}
