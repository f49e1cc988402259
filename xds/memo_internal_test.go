package xds

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/aggregator"
	"github.com/vigilhq/vigil/upstreams"
)

func memoSnapshot(n int) *aggregator.ClusterSnapshot {
	ms := make([]aggregator.Member, n)
	for i := range ms {
		ms[i] = aggregator.Member{
			Instance: upstreams.Instance{ID: fmt.Sprintf("i%05d", i), Address: fmt.Sprintf("10.0.%d.%d:80", i>>8&255, i&255),
				Weight: 1, Zone: fmt.Sprintf("z%d", i%3)},
			Status: aggregator.StatusHealthy, Reason: "ok",
		}
	}
	return &aggregator.ClusterSnapshot{Name: "c", Spec: &upstreams.Cluster{Name: "c"}, Members: ms}
}

// withStatus is snap with member i's status changed, sharing the rest, as
// Store.UpdateMember makes it.
func withStatus(snap *aggregator.ClusterSnapshot, i int, st aggregator.Status) *aggregator.ClusterSnapshot {
	ms := append([]aggregator.Member(nil), snap.Members...)
	ms[i].Status = st
	return &aggregator.ClusterSnapshot{Name: snap.Name, Spec: snap.Spec, Members: ms}
}

func TestIncrementalBuildSharesUnchangedEndpoints(t *testing.T) {
	snap := memoSnapshot(30)
	first, memo := buildAssignment(snap, nil)

	same, memo2 := buildAssignment(withStatus(snap, 4, aggregator.StatusHealthy), memo)
	if !sameAssignment(first, same) || !proto.Equal(first, same) {
		t.Fatalf("an unchanged rebuild is not equal")
	}

	changedSnap := withStatus(snap, 4, aggregator.StatusDraining)
	changed, _ := buildAssignment(changedSnap, memo2)
	if sameAssignment(first, changed) {
		t.Fatalf("a drained member did not change the assignment")
	}
	if !proto.Equal(changed, BuildAssignment(changedSnap)) {
		t.Fatalf("incremental build differs from a fresh build")
	}
	shared, rebuilt := 0, 0
	for gi, g := range changed.GetEndpoints() {
		for ei, e := range g.GetLbEndpoints() {
			if e == first.GetEndpoints()[gi].GetLbEndpoints()[ei] {
				shared++
			} else {
				rebuilt++
			}
		}
	}
	if rebuilt != 1 || shared != 29 {
		t.Errorf("rebuilt %d endpoints and shared %d, want 1 and 29", rebuilt, shared)
	}
}

// BenchmarkRebuildAfterOneChange times what the server does when one
// instance of a cluster changes: rebuild with the memo and compare.
func BenchmarkRebuildAfterOneChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		snap := memoSnapshot(n)
		prev, memo := buildAssignment(snap, nil)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				st := aggregator.StatusDraining
				if i%2 == 1 {
					st = aggregator.StatusHealthy
				}
				next, nextMemo := buildAssignment(withStatus(snap, i%n, st), memo)
				_ = sameAssignment(prev, next)
				prev, memo = next, nextMemo
				i++
			}
		})
	}
}
