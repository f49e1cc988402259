package verdicts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Defaults of WriterOptions.
const (
	// DefaultMinInterval is the least time between two writes of the file:
	// a change is written at once after a quiet second, else with
	// everything else that changed, one second after the last write.
	DefaultMinInterval = time.Second
	// MaxHeartbeat is how often, at most apart, a steady vigil confirms the
	// file (a quarter of restore_max_age when that is shorter, but not
	// under a second).
	MaxHeartbeat = time.Minute
)

// WriterOptions tune a Writer.
type WriterOptions struct {
	MinInterval time.Duration // default DefaultMinInterval
	Heartbeat   time.Duration // default: a quarter of the file's MaxAge, within 1s..MaxHeartbeat
}

// WriterStats count what a Writer did to the file.
type WriterStats struct {
	Writes     uint64 // transactions that changed records
	Heartbeats uint64 // transactions that only confirmed the file
	Puts       uint64 // records written
	Deletes    uint64 // records deleted (clusters deleted count their records)
	Failures   uint64 // transactions that failed
}

// Writer keeps the file in step with a membership store. Run it once.
type Writer struct {
	f           *File
	store       *membership.Store
	minInterval time.Duration
	heartbeat   time.Duration

	// Owned by Run.
	clusters    map[string]*clusterState
	dirty       bool // some cluster has something to write
	lastWrite   time.Time
	lastConfirm time.Time
	failing     bool // the last write failed (logged once until one succeeds)

	stats struct{ writes, heartbeats, puts, deletes, failures atomic.Uint64 }
}

// clusterState is what the file should hold for one cluster, and what of
// it is not written yet.
type clusterState struct {
	spec  *upstreams.Cluster
	shape string
	recs  map[string]*entry   // by ID: what the file should hold
	dirty map[string]struct{} // IDs to write (put if in recs, else delete)
	drop  bool                // delete the cluster's bucket first, then write all of recs
}

// entry is one instance's record and the member it was last compared
// with (nil: read from the file).
type entry struct {
	m   *membership.Member
	rec record
}

// NewWriter returns a Writer that keeps f in step with store, starting
// from what f held at Open.
func NewWriter(store *membership.Store, f *File, o WriterOptions) *Writer {
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = min(max(f.maxAge/4, time.Second), MaxHeartbeat)
	}
	w := &Writer{f: f, store: store, minInterval: o.MinInterval, heartbeat: o.Heartbeat,
		clusters: make(map[string]*clusterState, len(f.held))}
	for name, recs := range f.held {
		cs := &clusterState{recs: make(map[string]*entry, len(recs)), dirty: map[string]struct{}{}}
		for id, r := range recs {
			cs.recs[id] = &entry{rec: r}
		}
		w.clusters[name] = cs
	}
	w.dirty = f.reset
	return w
}

// Stats returns what the Writer did so far.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Writes: w.stats.writes.Load(), Heartbeats: w.stats.heartbeats.Load(),
		Puts: w.stats.puts.Load(), Deletes: w.stats.deletes.Load(), Failures: w.stats.failures.Load()}
}

// Run follows the store until ctx ends, then writes what is pending and
// confirms the file (a clean stop loses nothing), and returns nil. Start
// it once the store holds the configured clusters (after the first
// Apply): clusters the file holds that the store's first state lacks are
// deleted from it. Without a usable file it only waits for ctx.
func (w *Writer) Run(ctx context.Context) error {
	if !w.f.Kept() {
		<-ctx.Done()
		return nil
	}
	// A fault on the mapped file (cut short under vigil) panics instead of
	// crashing the process; update recovers it and gives the file up.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	sub := w.store.Subscribe(1) // events are not needed: snapshots carry everything
	defer sub.Close()
	w.absorbFirst(sub.Next())
	w.lastConfirm = w.f.now()
	flush := time.NewTimer(0) // what the first state changed is written at once
	defer flush.Stop()
	armed := true
	beat := time.NewTimer(w.heartbeat)
	defer beat.Stop()
	for {
		confirmed := w.lastConfirm
		select {
		case <-ctx.Done():
			w.absorb(sub.Next())
			w.write(true)
			return nil
		case <-sub.C():
			w.absorb(sub.Next())
		case <-flush.C:
			armed = false
			w.write(false)
		case <-beat.C:
			w.write(true)
			beat.Reset(w.heartbeat)
		}
		if w.lastConfirm != confirmed {
			beat.Reset(w.heartbeat)
		}
		if w.dirty && !armed && w.f.Kept() {
			flush.Reset(max(0, w.minInterval-w.f.now().Sub(w.lastWrite)))
			armed = true
		}
	}
}

// absorbFirst takes the store's first batch, which holds every cluster:
// the file's clusters that it lacks are gone from the configuration.
func (w *Writer) absorbFirst(b membership.Batch) {
	present := make(map[string]bool, len(b.Changed))
	for _, snap := range b.Changed {
		present[snap.Name] = true
	}
	for name := range w.clusters {
		if !present[name] {
			b.Removed = append(b.Removed, name)
		}
	}
	w.absorb(b)
}

// absorb takes one store batch into what the file should hold.
func (w *Writer) absorb(b membership.Batch) {
	for _, name := range b.Removed {
		if cs := w.clusters[name]; cs != nil {
			cs.recs, cs.dirty, cs.drop = map[string]*entry{}, map[string]struct{}{}, true
			w.dirty = true
		}
	}
	for _, snap := range b.Changed {
		w.absorbCluster(snap)
	}
}

// absorbCluster compares a cluster's snapshot with what the file should
// hold: members whose pointer is unchanged are skipped, the others compared
// by their records.
func (w *Writer) absorbCluster(snap *membership.ClusterSnapshot) {
	cs := w.clusters[snap.Name]
	if cs == nil {
		cs = &clusterState{recs: map[string]*entry{}, dirty: map[string]struct{}{}}
		w.clusters[snap.Name] = cs
	}
	reshaped := false
	if snap.Spec != cs.spec {
		cs.spec = snap.Spec
		if s := Shape(snap.Spec); s != cs.shape {
			cs.shape, reshaped = s, true
		}
	}
	held := 0 // members of snap with an entry
	for _, m := range snap.Members {
		e := cs.recs[m.ID]
		if e != nil && e.m == m && !reshaped {
			held++
			continue
		}
		if !known(m.Verdict) {
			if e != nil {
				delete(cs.recs, m.ID)
				cs.dirty[m.ID] = struct{}{}
			}
			continue
		}
		held++
		rec := recordOf(m, cs.shape)
		if e != nil && e.rec.equal(&rec) {
			e.m = m
			continue
		}
		cs.recs[m.ID] = &entry{m: m, rec: rec}
		cs.dirty[m.ID] = struct{}{}
	}
	if held < len(cs.recs) { // some entries are no longer members
		for id := range cs.recs {
			if _, ok := snap.Member(id); !ok {
				delete(cs.recs, id)
				cs.dirty[id] = struct{}{}
			}
		}
	}
	if len(cs.dirty) > 0 {
		w.dirty = true
	}
}

// write writes what is pending in one transaction, with the heartbeat;
// with confirm it writes the heartbeat even when nothing is pending. A
// failure keeps everything pending for the next write.
func (w *Writer) write(confirm bool) {
	if !w.f.Kept() || (!w.dirty && !confirm) {
		return
	}
	now := w.f.now()
	var puts, deletes uint64
	err := w.update(func(tx *bolt.Tx) error {
		puts, deletes = 0, 0
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(formatKey, []byte(format)); err != nil {
			return err
		}
		if err := meta.Put(confirmedKey, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
		if w.f.reset {
			if err := tx.DeleteBucket(clustersBucket); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		root, err := tx.CreateBucketIfNotExists(clustersBucket)
		if err != nil {
			return err
		}
		for name, cs := range w.clusters {
			p, d, err := cs.writeTo(root, name)
			if err != nil {
				return fmt.Errorf("cluster %q: %w", name, err)
			}
			puts, deletes = puts+p, deletes+d
		}
		return nil
	})
	if err != nil {
		w.stats.failures.Add(1)
		if !w.failing {
			w.f.log.Error("verdicts: writing the verdict file failed; retrying, vigil keeps running", "file", w.f.path,
				"error", err)
		}
		w.failing = true
		w.lastWrite = now // retry after MinInterval, not at once
		return
	}
	if w.failing {
		w.f.log.Info("verdicts: writing the verdict file works again", "file", w.f.path)
		w.failing = false
	}
	for name, cs := range w.clusters {
		clear(cs.dirty)
		cs.drop = false
		if len(cs.recs) == 0 {
			delete(w.clusters, name)
		}
	}
	w.f.reset = false
	if w.dirty {
		w.stats.writes.Add(1)
		w.lastWrite = now
	} else {
		w.stats.heartbeats.Add(1)
	}
	w.dirty = false
	w.lastConfirm = now
	w.stats.puts.Add(puts)
	w.stats.deletes.Add(deletes)
}

// update runs fn in a write transaction. A panic inside bbolt (a fault on
// a file damaged under vigil) gives the file up instead of crashing.
func (w *Writer) update(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.f.broken.Store(true)
			w.f.log.Error("verdicts: the verdict file failed inside bbolt: verdicts are no longer kept until restart",
				"file", w.f.path, "panic", fmt.Sprint(r))
			err = fmt.Errorf("bbolt failed writing it: %v", r)
		}
	}()
	return w.f.db.Update(fn)
}

// writeTo writes what is pending of one cluster into root, returning how
// many records it put and deleted.
func (cs *clusterState) writeTo(root *bolt.Bucket, name string) (puts, deletes uint64, err error) {
	if !cs.drop && len(cs.dirty) == 0 {
		return 0, 0, nil
	}
	if cs.drop {
		if b := root.Bucket([]byte(name)); b != nil {
			deletes += uint64(b.Stats().KeyN)
			if err := root.DeleteBucket([]byte(name)); err != nil {
				return 0, 0, err
			}
		}
		if len(cs.recs) == 0 {
			return puts, deletes, nil
		}
	}
	b, err := root.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return 0, 0, err
	}
	put := func(id string, e *entry) error {
		v, err := json.Marshal(&e.rec)
		if err != nil {
			return err
		}
		puts++
		return b.Put([]byte(id), v)
	}
	if cs.drop {
		for id, e := range cs.recs {
			if err := put(id, e); err != nil {
				return 0, 0, err
			}
		}
		return puts, deletes, nil
	}
	for id := range cs.dirty {
		if e := cs.recs[id]; e != nil {
			err = put(id, e)
		} else if b.Get([]byte(id)) != nil {
			deletes++
			err = b.Delete([]byte(id))
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return puts, deletes, nil
}
