package statedb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// recovery is what salvage kept and lost.
type recovery struct {
	entries, buckets int
	problems         []string // what could not be read
	keptAs           string   // where the damaged file's bytes were kept
}

func (r recovery) lostSummary() string {
	if len(r.problems) == 0 {
		return "nothing that could be found"
	}
	return summarizeStrings(r.problems)
}

// salvaged is one readable bucket and its entries.
type salvaged struct {
	path    [][]byte
	seq     uint64
	entries [][2][]byte
}

// salvage copies every bucket and entry that can still be read from data,
// the bytes of the damaged file at path, into a fresh file that replaces
// it. The damaged bytes are first kept as path.damaged-<UTC time>. The
// caller holds the file's lock.
func salvage(path string, data []byte) (recovery, error) {
	var rec recovery
	var found []*salvaged
	h, err := readMeta(data) // a file cut short still has its first pages
	if err != nil {
		rec.problems = append(rec.problems, "everything: "+err.Error())
	} else {
		byPath := map[string]*salvaged{}
		probs := walkTree(data, h, visitor{
			bucket: func(path [][]byte, seq uint64) {
				b := &salvaged{path: cloneAll(path), seq: seq}
				byPath[string(bytes.Join(path, []byte{0}))] = b
				found = append(found, b)
			},
			entry: func(path [][]byte, k, v []byte) {
				b := byPath[string(bytes.Join(path, []byte{0}))]
				if b == nil { // a value at the top level, where bbolt keeps only buckets
					return
				}
				b.entries = append(b.entries, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			},
		})
		for _, p := range probs {
			rec.problems = append(rec.problems, "what was on "+p.String())
		}
	}

	tmp := path + ".recovering"
	_ = os.Remove(tmp) // left by an interrupted recovery
	if err := writeFresh(tmp, found, &rec); err != nil {
		_ = os.Remove(tmp)
		return rec, err
	}
	rec.keptAs = fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405.000Z"))
	if err := writeSynced(rec.keptAs, data); err != nil {
		_ = os.Remove(tmp)
		return rec, fmt.Errorf("keep the damaged file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return rec, fmt.Errorf("replace the damaged file: %w", err)
	}
	return rec, syncDir(filepath.Dir(path))
}

// writeFresh writes the salvaged buckets into a new bbolt file.
func writeFresh(path string, found []*salvaged, rec *recovery) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, s := range found {
			b, err := createBucket(tx, s.path)
			if err != nil {
				rec.problems = append(rec.problems, fmt.Sprintf("bucket %s: %v", pathString(s.path), err))
				continue
			}
			if err := b.SetSequence(s.seq); err != nil {
				return err
			}
			rec.buckets++
			for _, kv := range s.entries {
				if err := b.Put(kv[0], kv[1]); err != nil {
					rec.problems = append(rec.problems, fmt.Sprintf("bucket %s, key %q: %v", pathString(s.path), kv[0], err))
					continue
				}
				rec.entries++
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createBucket creates the bucket at path and every bucket above it.
func createBucket(tx *bolt.Tx, path [][]byte) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists(path[0])
	for _, name := range path[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists(name)
	}
	return b, err
}

// writeSynced writes a new file and syncs it to disk.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close() //nolint:errcheck // opened to sync only: the Sync's error is the one that matters
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func cloneAll(path [][]byte) [][]byte {
	out := make([][]byte, len(path))
	for i, p := range path {
		out[i] = bytes.Clone(p)
	}
	return out
}
