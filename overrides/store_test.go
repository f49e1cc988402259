package overrides

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
)

func mustOpen(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func TestPutListDeleteSurviveReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	s := mustOpen(t, dir, WithClock(clock))
	forever := membership.Override{Reason: "kernel upgrade", By: "alice", Since: now}
	timed := membership.Override{Reason: "canary", By: "bob", Since: now, Expires: now.Add(10 * time.Minute)}
	if err := s.Put("web", "10.0.0.2:80", forever); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany("db", []string{"b", "a"}, timed); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir, WithClock(clock))
	defer s.Close() //nolint:errcheck // test cleanup
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Cluster: "db", Instance: "a", Override: timed},
		{Cluster: "db", Instance: "b", Override: timed},
		{Cluster: "web", Instance: "10.0.0.2:80", Override: forever},
	}
	if len(got) != len(want) {
		t.Fatalf("List after reopen = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Cluster != w.Cluster || g.Instance != w.Instance || g.Override.Reason != w.Override.Reason ||
			g.Override.By != w.Override.By || !g.Override.Since.Equal(w.Override.Since) || !g.Override.Expires.Equal(w.Override.Expires) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}

	if err := s.Delete("db", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("db", "missing"); err != nil {
		t.Fatalf("deleting a missing entry: %v", err)
	}
	if err := s.Delete("nocluster", "x"); err != nil {
		t.Fatalf("deleting from a missing cluster: %v", err)
	}
	if _, ok, _ := s.Get("db", "a"); ok {
		t.Error("db/a still held after Delete")
	}
	if o, ok, _ := s.Get("db", "b"); !ok || o.Reason != "canary" {
		t.Errorf("Get(db/b) = %+v, %v", o, ok)
	}
	if err := s.DeleteCluster("db"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.List()
	if len(got) != 1 || got[0].Cluster != "web" {
		t.Errorf("after DeleteCluster(db): %+v", got)
	}
}

func TestListDropsExpired(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := mustOpen(t, dir, WithClock(clock))
	defer s.Close() //nolint:errcheck // test cleanup

	if err := s.Put("c", "short", membership.Override{Reason: "x", Since: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("c", "long", membership.Override{Reason: "y", Since: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(); len(got) != 2 {
		t.Fatalf("before expiry: %d entries, want 2", len(got))
	}

	now = now.Add(time.Minute) // "short" ends exactly now
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Instance != "long" {
		t.Fatalf("after 1m: %+v, want only c/long", got)
	}
	// The expired entry is gone from disk, not just hidden: it stays gone
	// even if the clock went back.
	now = now.Add(-time.Hour)
	if got, _ := s.List(); len(got) != 1 {
		t.Fatalf("expired entry came back: %+v", got)
	}

	now = now.Add(2 * time.Hour)
	if got, _ := s.List(); len(got) != 0 {
		t.Fatalf("after 1h: %+v, want none", got)
	}
}

func TestOpenTwiceFails(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the file lock timeout")
	}
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close() //nolint:errcheck // test cleanup
	if s2, err := Open(dir); err == nil {
		_ = s2.Close() // the test fails anyway
		t.Fatal("second Open of a locked state dir succeeded")
	}
}

func TestOpenRejectsEmptyDir(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}
