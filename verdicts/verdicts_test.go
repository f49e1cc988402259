package verdicts_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/verdicts"
)

var tenMinutes = verdicts.Options{MaxAge: 10 * time.Minute}

// A written verdict comes back for the same cluster, ID, address, probe
// port and probing, with its status, reason and since; an instance that
// knew nothing is not kept; a manual drain's status is not restored as the
// probes' verdict.
func TestRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	store := membership.NewStore(0)
	drained := member("5", passing)
	drained.Status, drained.Reason = membership.StatusDraining, "manual drain: kernel"
	drained.Override = &membership.Override{Reason: "kernel", By: "alice"}
	degraded := member("4", membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhasePassing, Degraded: true})
	store.PutCluster(spec("web"), []membership.Member{member("1", passing), member("2", failing), member("3", initial),
		degraded, drained}, nil)
	r := startWriter(t, dir, store, tenMinutes, verdicts.WriterOptions{})
	waitFor(t, "the first write", func() bool { return r.w.Stats().Puts == 4 })
	r.stop()

	got := restored(t, dir, tenMinutes)
	web := spec("web")
	for _, want := range []membership.Member{member("1", passing), member("2", failing), degraded} {
		m, ok := got.Lookup(web, want.Instance)
		if !ok {
			t.Fatalf("%s not restored", want.ID)
		}
		if m.Status != want.Status || m.Reason != want.Reason || !m.Since.Equal(want.Since) || m.Verdict != want.Verdict {
			t.Errorf("%s restored as %s %q %s %+v, want %s %q %s %+v", want.ID, m.Status, m.Reason, m.Since, m.Verdict,
				want.Status, want.Reason, want.Since, want.Verdict)
		}
	}
	if m, ok := got.Lookup(web, drained.Instance); !ok || m.Status != membership.StatusHealthy || !strings.Contains(m.Reason, "manual drain") {
		t.Errorf("drained instance restored as %v %s %q, want HEALTHY (its probes' verdict)", ok, m.Status, m.Reason)
	}
	in1 := member("1", passing).Instance
	moved, probedElsewhere := in1, in1
	moved.Address = "10.0.0.99:80"
	probedElsewhere.ProbePort = 9090
	reprobed := spec("web")
	reprobed.Readiness.Path = "/healthz"
	other := spec("api")
	for name, c := range map[string]struct {
		spec *upstreams.Cluster
		in   upstreams.Instance
	}{
		"an instance that knew nothing": {web, member("3", initial).Instance},
		"another address":               {web, moved},
		"another probe port":            {web, probedElsewhere},
		"other probes":                  {reprobed, in1},
		"another cluster":               {other, in1},
	} {
		if _, ok := got.Lookup(c.spec, c.in); ok {
			t.Errorf("%s: restored", name)
		}
	}
	seeds := got.Instances(web)
	want := []upstreams.Instance{member("1", passing).Instance, member("2", failing).Instance, degraded.Instance, drained.Instance}
	if !reflect.DeepEqual(seeds, want) {
		t.Errorf("seeds:\n got %+v\nwant %+v", seeds, want)
	}
	if s := got.Instances(reprobed); len(s) != 0 {
		t.Errorf("seeds under other probes: %+v", s)
	}
}

// clock is a wall clock shifted by an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// Verdicts are restored only while the file's last confirmation is within
// restore_max_age; a steady vigil confirms it on its heartbeat without
// rewriting any record, so a record's age counts from the last time a
// running vigil agreed with it, not from when it was written.
func TestRestoreMaxAge(t *testing.T) {
	dir := t.TempDir()
	store := membership.NewStore(0)
	store.PutCluster(spec("web"), []membership.Member{member("1", passing)}, nil)
	var c clock
	opts := verdicts.Options{MaxAge: 10 * time.Minute, Now: c.now}
	r := startWriter(t, dir, store, opts, verdicts.WriterOptions{Heartbeat: 20 * time.Millisecond})
	waitFor(t, "the first write", func() bool { return r.w.Stats().Writes == 1 })
	c.advance(9 * time.Minute) // steady for nine minutes
	beats := r.w.Stats().Heartbeats
	waitFor(t, "a heartbeat", func() bool { return r.w.Stats().Heartbeats > beats+1 })
	if s := r.w.Stats(); s.Writes != 1 || s.Puts != 1 {
		t.Errorf("a steady fleet rewrote records: %+v", s)
	}
	// The file as a vigil killed now (no last write at stop) leaves it.
	killed := t.TempDir()
	copyFile(t, filepath.Join(dir, verdicts.FileName), filepath.Join(killed, verdicts.FileName))
	r.stop()

	in := member("1", passing).Instance
	for _, c := range []struct {
		name    string
		after   time.Duration // since the record was written
		maxAge  time.Duration
		restore bool
	}{
		{"confirmed 5m ago, written 14m ago", 14 * time.Minute, 10 * time.Minute, true},
		{"confirmed 11m ago", 20 * time.Minute, 10 * time.Minute, false},
		{"restore_max_age 0", 9 * time.Minute, 0, false},
	} {
		at := time.Now().Add(c.after)
		got := restored(t, killed, verdicts.Options{MaxAge: c.maxAge, Now: func() time.Time { return at }})
		if _, ok := got.Lookup(spec("web"), in); ok != c.restore {
			t.Errorf("%s: restored %v, want %v", c.name, ok, c.restore)
		}
	}
}

// Changes are written in batches: under churn at most one transaction a
// second (the first change after a quiet second at once), a steady fleet
// writes nothing, and a clean stop writes what is pending.
func TestWritesAreBatched(t *testing.T) {
	dir := t.TempDir()
	store := membership.NewStore(0)
	var web, api []membership.Member
	for _, id := range ids(50) {
		web = append(web, member(id, passing))
		api = append(api, member(id, passing))
	}
	store.PutCluster(spec("web"), web, nil)
	store.PutCluster(spec("api"), api, nil)
	r := startWriter(t, dir, store, tenMinutes, verdicts.WriterOptions{})
	waitFor(t, "the first write", func() bool { return r.w.Stats().Writes == 1 })
	base := r.w.Stats()
	if base.Puts != 100 {
		t.Fatalf("first write put %d records, want 100", base.Puts)
	}

	// Churn: a change every 5 ms in each cluster for 3 s.
	const churn = 3 * time.Second
	start := time.Now()
	changes := 0
	for i := 0; time.Since(start) < churn; i++ {
		v := passing
		if i%2 == 0 {
			v = failing
		}
		id := ids(50)[i%50]
		setVerdict(t, store, "web", id, v, "churn")
		setVerdict(t, store, "api", id, v, "churn")
		changes += 2
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	waitFor(t, "the churn written", func() bool { return r.w.Stats().Writes > base.Writes })
	// Let the last batch land: it comes at most a second after the one before.
	time.Sleep(1100 * time.Millisecond)
	churned := r.w.Stats()
	writes := churned.Writes - base.Writes
	t.Logf("churn: %d changes in %s: %d transactions (%.1f/s), %d records put", changes, elapsed.Round(time.Millisecond),
		writes, float64(writes)/elapsed.Seconds(), churned.Puts-base.Puts)
	if limit := uint64(elapsed/time.Second) + 2; writes > limit {
		t.Errorf("%d transactions in %s of churn, want at most %d (one a second)", writes, elapsed, limit)
	}
	if writes < 2 {
		t.Errorf("%d transactions in %s of churn: changes were not written as they came", writes, elapsed)
	}

	// Steady: nothing changes for 2 s, nothing is written (the heartbeat
	// comes only every minute).
	time.Sleep(2 * time.Second)
	if s := r.w.Stats(); s != churned {
		t.Errorf("a steady fleet wrote: %+v, was %+v", s, churned)
	}

	// A change just before a clean stop is in the file.
	setVerdict(t, store, "web", "7", failing, "the last word")
	r.stop()
	got := restored(t, dir, tenMinutes)
	if m, ok := got.Lookup(spec("web"), member("7", failing).Instance); !ok || m.Reason != "the last word" {
		t.Errorf("last change before the stop: restored %v %q", ok, m.Reason)
	}
}

// Records of instances and clusters that left, or whose verdict went back
// to knowing nothing, are deleted; so are the clusters the file holds that
// the store no longer has when the writer starts.
func TestLeftInstancesAreDeleted(t *testing.T) {
	dir := t.TempDir()
	store := membership.NewStore(0)
	store.PutCluster(spec("web"), []membership.Member{member("1", passing), member("2", passing), member("3", passing)}, nil)
	store.PutCluster(spec("api"), []membership.Member{member("1", passing)}, nil)
	store.PutCluster(spec("old"), []membership.Member{member("1", passing)}, nil)
	r := startWriter(t, dir, store, tenMinutes, verdicts.WriterOptions{MinInterval: 10 * time.Millisecond})
	waitFor(t, "the first write", func() bool { return r.w.Stats().Puts == 5 })
	r.stop()

	// Restarted without "old".
	store = membership.NewStore(0)
	store.PutCluster(spec("web"), []membership.Member{member("1", passing), member("2", passing), member("3", passing)}, nil)
	store.PutCluster(spec("api"), []membership.Member{member("1", passing)}, nil)
	r = startWriter(t, dir, store, tenMinutes, verdicts.WriterOptions{MinInterval: 10 * time.Millisecond})
	waitFor(t, "old deleted", func() bool { return r.w.Stats().Deletes == 1 })
	if s := r.w.Stats(); s.Puts != 0 {
		t.Errorf("a start on unchanged verdicts put %d records", s.Puts)
	}
	store.PutCluster(spec("web"), []membership.Member{member("1", passing), member("3", passing)}, nil) // 2 left
	setVerdict(t, store, "web", "3", initial, "reprobed")
	store.RemoveCluster("api", nil)
	waitFor(t, "the deletes", func() bool { return r.w.Stats().Deletes == 4 })
	r.stop()

	got := restored(t, dir, tenMinutes)
	seeds := map[string]int{}
	for _, c := range []string{"web", "api", "old"} {
		seeds[c] = len(got.Instances(spec(c)))
	}
	if !reflect.DeepEqual(seeds, map[string]int{"web": 1, "api": 0, "old": 0}) {
		t.Errorf("kept after the deletes: %v, want web 1", seeds)
	}
}

// A damaged or unreadable verdict file never stops a start: it is moved
// aside with an error naming it, nothing is restored, and the fresh file
// keeps verdicts again.
func TestDamagedFileIsMovedAside(t *testing.T) {
	for _, how := range []string{"random bytes", "cut to half", "unknown format"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, verdicts.FileName)
			store := membership.NewStore(0)
			store.PutCluster(spec("web"), []membership.Member{member("1", passing)}, nil)
			r := startWriter(t, dir, store, tenMinutes, verdicts.WriterOptions{})
			waitFor(t, "the first write", func() bool { return r.w.Stats().Puts == 1 })
			r.stop()
			bad := damage(t, path, how)

			var logs bytes.Buffer // read before the writer runs: Open logs on this goroutine
			opts := tenMinutes
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			f := verdicts.Open(dir, opts)
			if got := f.Restored(); got != nil {
				t.Errorf("restored from a damaged file")
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), path) {
				t.Errorf("no error naming the file:\n%s", logs.String())
			}
			r = runWriter(t, f, store, verdicts.WriterOptions{})
			waitFor(t, "the fresh file written", func() bool { return r.w.Stats().Puts == 1 })
			r.stop()
			if _, ok := restored(t, dir, tenMinutes).Lookup(spec("web"), member("1", passing).Instance); !ok {
				t.Error("the fresh file does not restore")
			}
			if how == "unknown format" {
				return // rewritten in place: the file itself was sound
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != string(bad) {
				t.Error("the file moved aside is not the damaged one")
			}
		})
	}
}

// damage rewrites the verdict file at path.
func damage(t *testing.T, path, how string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch how {
	case "random bytes":
		for i := range data {
			data[i] = byte(i*131 + 7)
		}
	case "cut to half":
		data = data[:len(data)/2]
	case "unknown format":
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte("9")) })
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		data, _ = os.ReadFile(path)
		return data
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
