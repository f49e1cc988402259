package statedb

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sample is what makeSample stores: "drains" holds one nested bucket per
// cluster; "other" stands for a second store kept in the same file.
type sample map[string]map[string]string // "bucket/path" -> key -> value

// makeSample writes a file with nClusters clusters of perCluster entries
// (enough of them give the buckets branch pages) and returns its contents.
func makeSample(t *testing.T, path string, nClusters, perCluster int) sample {
	t.Helper()
	db, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	want := sample{}
	err = db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucket([]byte("drains"))
		if err != nil {
			return err
		}
		for c := range nClusters {
			name := fmt.Sprintf("cluster-%02d", c)
			b, err := root.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			m := map[string]string{}
			for i := range perCluster {
				k, v := fmt.Sprintf("10.0.%d.%d:8080", c, i), fmt.Sprintf(`{"reason":"kernel upgrade %d","by":"alice"}`, i)
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
				m[k] = v
			}
			want["drains/"+name] = m
		}
		other, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		if err := other.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		want["other"] = map[string]string{"k": "v"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// contents reads every nested entry of an open database.
func contents(t *testing.T, db *bolt.DB) sample {
	t.Helper()
	got := sample{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+"/"+string(k), b.Bucket(k))
			}
			if got[prefix] == nil {
				got[prefix] = map[string]string{}
			}
			got[prefix][string(k)] = string(v)
			return nil
		})
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func count(s sample) int {
	n := 0
	for _, m := range s {
		n += len(m)
	}
	return n
}

// subsetOf reports the first entry of got that want does not hold as is.
func subsetOf(got, want sample) error {
	for b, m := range got {
		for k, v := range m {
			if want[b][k] != v {
				return fmt.Errorf("%s/%s = %q, not in the original", b, k, v)
			}
		}
	}
	return nil
}

// pageOf returns the root page of the bucket at path (it must not be inline).
func pageOf(t *testing.T, path string, bucket ...string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // test cleanup
	var id uint64
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket[0]))
		for _, name := range bucket[1:] {
			b = b.Bucket([]byte(name))
		}
		id = uint64(b.Root())
		return nil
	})
	if err != nil || id == 0 {
		t.Fatalf("root page of %v: %d, %v", bucket, id, err)
	}
	return id
}

// pageSize of a file made here: the first meta's.
func pageSize(t *testing.T, data []byte) int {
	t.Helper()
	m, err := parseMeta(data)
	if err != nil {
		t.Fatal(err)
	}
	return int(m.pageSize)
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// damagedCopies lists the files recovery kept beside path.
func damagedCopies(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".damaged-*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func sameBytes(t *testing.T, path string, want []byte) {
	t.Helper()
	if got := read(t, path); !bytes.Equal(got, want) {
		t.Errorf("%s changed: %d bytes, was %d", path, len(got), len(want))
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
