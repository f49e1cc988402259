package membership

import (
	"testing"
	"time"
)

func TestSetFailSafeRecordsAndWakesSubscribers(t *testing.T) {
	s := NewStore(10)
	s.PutCluster(spec("a"), members("x"), nil)
	sub := s.Subscribe(10)
	defer sub.Close()
	<-sub.C()
	sub.Next()
	if fs := s.FailSafe(); fs.Holding {
		t.Fatalf("a new store holds: %+v", fs)
	}
	before := s.Version()
	at := time.Unix(100, 0)
	s.SetFailSafe(FailSafe{Holding: true, Reason: "why", Since: at},
		[]Event{{Time: at, Kind: EventFailSafe, Reason: "holding: why"}})
	if fs := s.FailSafe(); !fs.Holding || fs.Reason != "why" || !fs.Since.Equal(at) {
		t.Fatalf("FailSafe() = %+v", fs)
	}
	if s.Version() <= before {
		t.Error("version did not move")
	}
	select {
	case <-sub.C():
	default:
		t.Fatal("subscriber not woken")
	}
	b := sub.Next()
	if len(b.Events) != 1 || b.Events[0].Kind != EventFailSafe || b.Events[0].Seq == 0 || len(b.Changed) != 0 {
		t.Fatalf("batch = %+v", b)
	}
	if evs := s.Events(EventQuery{}); len(evs) != 1 || evs[0].Kind != EventFailSafe {
		t.Fatalf("history = %+v", evs)
	}
}
