package verdicts

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/internal/statedb"
)

// FileName is the verdict file inside the state directory. It is its own
// file, apart from the drains: a damaged verdict cache is dropped, while a
// damaged drains file must stop the start.
const FileName = "verdicts.db"

// The file's layout: a meta bucket (format, confirmed_at) and a clusters
// bucket holding a bucket per cluster, keyed by instance ID, whose values
// are JSON records.
var (
	metaBucket     = []byte("meta")
	clustersBucket = []byte("clusters")
	formatKey      = []byte("format")
	confirmedKey   = []byte("confirmed_at")
)

// format is the layout version this package writes and reads.
const format = "1"

// Options configure Open.
type Options struct {
	// MaxAge is how long after the file was last confirmed its verdicts
	// may still be restored (restore_max_age); 0: none is restored.
	MaxAge time.Duration
	// LockWait bounds the wait for another process holding the file
	// (statedb's default when 0).
	LockWait time.Duration
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
}

// File is the open verdict file and what it held when opened. Its zero
// database (the file could not be used) keeps and restores nothing.
type File struct {
	db     *bolt.DB // nil: verdicts are not kept
	path   string
	log    *slog.Logger
	now    func() time.Time
	maxAge time.Duration

	held      map[string]map[string]record // cluster -> id -> record, as read at Open
	confirmed time.Time                    // the file's heartbeat as read at Open
	reset     bool                         // the content could not be read: rewrite it whole
	broken    atomic.Bool                  // a write failed inside bbolt: leave the database alone
}

// Open opens dir's verdict file, creating it when absent, and reads it.
// It never fails: a damaged or unreadable file is moved aside (logged as
// an error) and a fresh one is started; a file that cannot be used at all
// (another process holds it, the directory is read-only) is logged and
// the returned File keeps nothing. Either way vigil starts, its instances
// at initial_status.
func Open(dir string, o Options) *File {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &File{path: filepath.Join(dir, FileName), log: o.Logger.With("component", "verdicts"), now: o.Now,
		maxAge: o.MaxAge, held: map[string]map[string]record{}}
	db, err := f.open(o)
	if err != nil {
		f.log.Error("verdicts: cannot use the verdict file: verdicts are not kept, and the next restart starts "+
			"every instance at initial_status", "file", f.path, "error", err)
		return f
	}
	f.db = db
	if err := f.load(); err != nil {
		f.log.Error("verdicts: the verdict file could not be read: starting with nothing restored; it is rewritten",
			"file", f.path, "error", err)
		f.held, f.confirmed, f.reset = map[string]map[string]record{}, time.Time{}, true
	}
	return f
}

// open opens the file with statedb, moving it aside once when it is
// damaged or cannot be opened for another reason than a lock.
func (f *File) open(o Options) (*bolt.DB, error) {
	so := statedb.Options{LockWait: o.LockWait, Logger: f.log}
	db, err := statedb.Open(f.path, so)
	var locked *statedb.LockedError
	if err == nil || errors.As(err, &locked) {
		return db, err
	}
	if _, statErr := os.Stat(f.path); statErr != nil {
		return nil, err // nothing to move aside: the directory itself is the problem
	}
	aside := fmt.Sprintf("%s.damaged-%s", f.path, time.Now().UTC().Format("20060102T150405.000Z"))
	if mvErr := os.Rename(f.path, aside); mvErr != nil {
		return nil, fmt.Errorf("%w; and it could not be moved aside: %w", err, mvErr)
	}
	f.log.Error("verdicts: the verdict file is damaged or unreadable: moved aside, starting with nothing restored "+
		"(every instance starts at initial_status)", "file", f.path, "moved_to", aside, "error", err)
	return statedb.Open(f.path, so)
}

// load reads the heartbeat and every record. A record that does not decode
// is kept as an empty record, which restores nothing and which the writer
// replaces or deletes.
func (f *File) load() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt failed reading it: %v", r)
		}
	}()
	bad := 0
	err = f.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			return nil // a new file
		}
		if v := string(meta.Get(formatKey)); v != format {
			return fmt.Errorf("unknown format %q (this vigil reads %q)", v, format)
		}
		if t, err := time.Parse(time.RFC3339Nano, string(meta.Get(confirmedKey))); err == nil {
			f.confirmed = t
		}
		root := tx.Bucket(clustersBucket)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(name []byte) error {
			recs := map[string]record{}
			f.held[string(name)] = recs
			return root.Bucket(name).ForEach(func(k, v []byte) error {
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					bad++
					r = record{}
				}
				recs[string(k)] = r
				return nil
			})
		})
	})
	if bad > 0 {
		f.log.Warn("verdicts: some records could not be read; those instances start fresh", "file", f.path, "records", bad)
	}
	return err
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Kept reports whether verdicts are written to the file.
func (f *File) Kept() bool { return f.db != nil && !f.broken.Load() }

// Close closes the file. Call it once no Writer runs.
func (f *File) Close() error {
	if f.db == nil || f.broken.Load() {
		return nil // a database that failed inside a write may hold its lock forever: leave it to the exit
	}
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("close verdict file %s: %w", f.path, err)
	}
	return nil
}
