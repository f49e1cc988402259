package membership

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

func spec(name string) *upstreams.Cluster { return &upstreams.Cluster{Name: name} }

func members(ids ...string) []Member {
	var out []Member
	for _, id := range ids {
		out = append(out, Member{Instance: upstreams.Instance{ID: id, Address: id + ":80"}, Status: StatusUnhealthy})
	}
	return out
}

func setStatus(s *Store, cluster, id string, st Status) bool {
	return s.UpdateMember(cluster, id, func(m *Member) (*Event, bool) {
		if m.Status == st {
			return nil, false
		}
		ev := &Event{Kind: EventTransition, Cluster: cluster, Instance: id, From: m.Status, To: st, Time: time.Unix(int64(st), 0)}
		m.Status = st
		return ev, true
	})
}

func TestSnapshotsAreImmutableAndVersioned(t *testing.T) {
	s := NewStore(100)
	s.PutCluster(spec("a"), members("z", "x", "y"), nil)
	before, _ := s.Cluster("a")
	if before.Members[0].ID != "x" || before.Members[2].ID != "z" {
		t.Fatalf("members not sorted: %+v", before.Members)
	}
	if !setStatus(s, "a", "y", StatusHealthy) {
		t.Fatal("update refused")
	}
	after, _ := s.Cluster("a")
	if after.Version <= before.Version || s.Version() != after.Version {
		t.Errorf("versions: before %d after %d store %d", before.Version, after.Version, s.Version())
	}
	if m, _ := before.Member("y"); m.Status != StatusUnhealthy {
		t.Error("an old snapshot changed")
	}
	if m, _ := after.Member("y"); m.Status != StatusHealthy {
		t.Error("new snapshot lacks the change")
	}
	if setStatus(s, "a", "y", StatusHealthy) {
		t.Error("a no-op update made a new version")
	}
	if setStatus(s, "a", "nope", StatusHealthy) || setStatus(s, "nope", "y", StatusHealthy) {
		t.Error("update of a missing member accepted")
	}
	if _, ok := after.Member("nope"); ok {
		t.Error("Member found a missing id")
	}
}

// A subscriber that does not read never blocks writers: its pending
// changes coalesce to the latest snapshot per cluster, events stay in order
// up to its limit and the rest are counted as dropped.
func TestSlowSubscriberCoalesces(t *testing.T) {
	s := NewStore(1000)
	s.PutCluster(spec("a"), members("1", "2"), nil)
	s.PutCluster(spec("b"), members("1"), nil)
	sub := s.Subscribe(5)
	defer sub.Close()
	first := sub.Next()
	if len(first.Changed) != 2 || first.Changed[0].Name != "a" {
		t.Fatalf("first batch: %+v", first)
	}
	statuses := []Status{StatusHealthy, StatusDraining, StatusUnhealthy, StatusHealthy}
	for i := 0; i < 10; i++ {
		setStatus(s, "a", "1", statuses[i%len(statuses)])
	}
	s.PutCluster(spec("c"), members("9"), nil)
	s.RemoveCluster("b", nil)
	select {
	case <-sub.C():
	default:
		t.Fatal("no signal")
	}
	b := sub.Next()
	if len(b.Changed) != 2 || b.Changed[0].Name != "a" || b.Changed[1].Name != "c" {
		t.Errorf("changed: %+v", b.Changed)
	}
	if m, _ := b.Changed[0].Member("1"); m.Status != statuses[9%len(statuses)] {
		t.Errorf("coalesced snapshot is not the latest: %s", m.Status)
	}
	if len(b.Removed) != 1 || b.Removed[0] != "b" {
		t.Errorf("removed: %v", b.Removed)
	}
	// 10 updates, two of them no-ops (H -> H): 8 events, 5 kept, 3 dropped.
	if len(b.Events) != 5 || b.Dropped != 3 {
		t.Errorf("events %d dropped %d, want 5 and 3", len(b.Events), b.Dropped)
	}
	for i := 1; i < len(b.Events); i++ {
		if b.Events[i].Seq <= b.Events[i-1].Seq {
			t.Errorf("events out of order: %d after %d", b.Events[i].Seq, b.Events[i-1].Seq)
		}
	}
	if b.Version != s.Version() {
		t.Errorf("batch version %d, store %d", b.Version, s.Version())
	}
	if !sub.Next().Empty() {
		t.Error("Next returned the same changes twice")
	}
	// A cluster removed then re-added shows as changed, not removed.
	s.RemoveCluster("c", nil)
	s.PutCluster(spec("c"), members("9"), nil)
	b = sub.Next()
	if len(b.Removed) != 0 || len(b.Changed) != 1 {
		t.Errorf("remove then add: %+v", b)
	}
	sub.Close()
	setStatus(s, "a", "2", StatusHealthy)
	if !sub.Next().Empty() {
		t.Error("closed subscription still receives")
	}
}

func TestEventHistoryPagingAndResume(t *testing.T) {
	s := NewStore(10)
	s.PutCluster(spec("a"), members("1", "2"), nil)
	for i := 0; i < 15; i++ {
		id := fmt.Sprint(1 + i%2)
		st := StatusHealthy
		if i%4 >= 2 {
			st = StatusUnhealthy
		}
		s.UpdateMember("a", id, func(m *Member) (*Event, bool) {
			m.Status = st
			return &Event{Kind: EventTransition, Cluster: "a", Instance: id, To: st, Time: time.Unix(int64(i), 0)}, true
		})
	}
	page := s.Events(EventQuery{Limit: 4})
	if len(page) != 4 || page[0].Seq != 15 || page[3].Seq != 12 {
		t.Fatalf("first page: %+v", page)
	}
	next := s.Events(EventQuery{Limit: 4, Before: page[3].Seq})
	if len(next) != 4 || next[0].Seq != 11 {
		t.Errorf("second page starts at %d", next[0].Seq)
	}
	all := s.Events(EventQuery{Limit: 100})
	if len(all) != 10 || all[9].Seq != 6 {
		t.Errorf("ring holds %d, oldest %d; want 10, 6", len(all), all[len(all)-1].Seq)
	}
	if got := s.Events(EventQuery{Instance: "2", Limit: 100}); len(got) != 5 {
		t.Errorf("instance filter: %d", len(got))
	}
	if got := s.Events(EventQuery{Since: time.Unix(12, 0), Limit: 100}); len(got) != 3 {
		t.Errorf("since filter: %d", len(got))
	}
	after, complete := s.EventsAfter(12)
	if !complete || len(after) != 3 || after[0].Seq != 13 {
		t.Errorf("resume after 12: complete=%v %+v", complete, after)
	}
	if _, complete := s.EventsAfter(2); complete {
		t.Error("resume from an evicted event claims completeness")
	}
}

// BenchmarkUpdateMember1000 is one transition in a 1,000-member cluster:
// every op really changes a member (the status flips each pass).
func BenchmarkUpdateMember1000(b *testing.B) {
	s := NewStore(1000)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("i%04d", i)
	}
	s.PutCluster(spec("a"), members(ids...), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st := StatusHealthy
		if (i/len(ids))%2 == 1 {
			st = StatusUnhealthy
		}
		if !setStatus(s, "a", ids[i%len(ids)], st) {
			b.Fatal("no change")
		}
		i++
	}
}

// BenchmarkUpdateMembers100Of1000 is a batch of 100 transitions in a
// 1,000-member cluster, as group commit writes a burst: one copy.
func BenchmarkUpdateMembers100Of1000(b *testing.B) {
	s := NewStore(1000)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("i%04d", i)
	}
	s.PutCluster(spec("a"), members(ids...), nil)
	batch := members(ids[:100]...)
	b.ReportAllocs()
	for b.Loop() {
		if s.UpdateMembers("a", batch, nil) != 100 {
			b.Fatal("batch not applied")
		}
	}
}
