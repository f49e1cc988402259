package overrides

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/internal/statedb"
	"github.com/vigilhq/vigil/membership"
)

// FileName is the database file created inside the state directory.
const FileName = "overrides.db"

// rootBucket holds one nested bucket per cluster, keyed by instance ID.
var rootBucket = []byte("overrides")

// Entry is one persisted manual drain.
type Entry struct {
	Cluster  string              `json:"cluster"`
	Instance string              `json:"instance"`
	Override membership.Override `json:"override"`
}

// Store is the persisted set of manual drains. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	owns bool // Close closes db
	now  func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the time source used to decide expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens (creating if needed) the overrides database in dir with
// statedb's default options: a damaged file is refused, and a second Open
// of the same dir fails after a short wait. Close closes the database.
func Open(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open overrides store: empty state directory")
	}
	db, err := statedb.Open(filepath.Join(dir, FileName), statedb.Options{})
	if err != nil {
		return nil, fmt.Errorf("open overrides store: %w", err)
	}
	s, err := New(db, opts...)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.owns = true
	return s, nil
}

// New keeps the drains in their bucket of db, a database opened with
// statedb.Open (other stores may share it). Close leaves db open.
func New(db *bolt.DB, opts ...Option) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(rootBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open overrides store %s: init: %w", db.Path(), err)
	}
	s := &Store{db: db, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close releases the database if Open opened it.
func (s *Store) Close() error {
	if !s.owns {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close overrides store: %w", err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.db.Path() }

// Put records (or replaces) the override of one instance.
func (s *Store) Put(cluster, instance string, o membership.Override) error {
	return s.PutMany(cluster, []string{instance}, o)
}

// PutMany records the same override for several instances of one cluster
// in a single transaction.
func (s *Store) PutMany(cluster string, instances []string, o membership.Override) error {
	if cluster == "" {
		return errors.New("put override: empty cluster name")
	}
	val, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("put override: encode: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(rootBucket).CreateBucketIfNotExists([]byte(cluster))
		if err != nil {
			return err
		}
		for _, id := range instances {
			if id == "" {
				return errors.New("empty instance id")
			}
			if err := b.Put([]byte(id), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put override for cluster %q: %w", cluster, err)
	}
	return nil
}

// Delete removes the override of one instance. Removing one that does not
// exist is not an error.
func (s *Store) Delete(cluster, instance string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		b := root.Bucket([]byte(cluster))
		if b == nil {
			return nil
		}
		if err := b.Delete([]byte(instance)); err != nil {
			return err
		}
		return dropIfEmpty(root, cluster)
	})
	if err != nil {
		return fmt.Errorf("delete override %s/%s: %w", cluster, instance, err)
	}
	return nil
}

// DeleteCluster removes the overrides of every instance of a cluster.
func (s *Store) DeleteCluster(cluster string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		if root.Bucket([]byte(cluster)) == nil {
			return nil
		}
		return root.DeleteBucket([]byte(cluster))
	})
	if err != nil {
		return fmt.Errorf("delete overrides of cluster %q: %w", cluster, err)
	}
	return nil
}

// Get returns the override of one instance, if one is held and unexpired.
func (s *Store) Get(cluster, instance string) (membership.Override, bool, error) {
	var (
		o     membership.Override
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(rootBucket).Bucket([]byte(cluster))
		if b == nil {
			return nil
		}
		v := b.Get([]byte(instance))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		found = o.Active(s.now())
		return nil
	})
	if err != nil {
		return membership.Override{}, false, fmt.Errorf("get override %s/%s: %w", cluster, instance, err)
	}
	return o, found, nil
}

// List returns every unexpired override, sorted by cluster then instance,
// and deletes the expired ones (and any entry that cannot be decoded).
func (s *Store) List() ([]Entry, error) {
	now := s.now()
	var out []Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		root := tx.Bucket(rootBucket)
		var clusters []string
		if err := root.ForEachBucket(func(k []byte) error {
			clusters = append(clusters, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, cluster := range clusters {
			b := root.Bucket([]byte(cluster))
			var stale [][]byte
			err := b.ForEach(func(k, v []byte) error {
				var o membership.Override
				if err := json.Unmarshal(v, &o); err != nil || !o.Active(now) {
					stale = append(stale, append([]byte(nil), k...))
					return nil
				}
				out = append(out, Entry{Cluster: cluster, Instance: string(k), Override: o})
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			if err := dropIfEmpty(root, cluster); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	return out, nil
}

// dropIfEmpty deletes a cluster's bucket once it holds nothing.
func dropIfEmpty(root *bolt.Bucket, cluster string) error {
	b := root.Bucket([]byte(cluster))
	if b == nil {
		return nil
	}
	if k, _ := b.Cursor().First(); k != nil {
		return nil
	}
	return root.DeleteBucket([]byte(cluster))
}
