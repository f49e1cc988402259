package statedb

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// damage is one way a state file gets hurt.
type damage struct {
	name    string
	problem string // in the DamagedError
	apply   func(t *testing.T, path string, data []byte) []byte
}

// branchChild returns the page the i-th element of branch page id points to.
func branchChild(data []byte, ps int, id uint64, i int) uint64 {
	return order.Uint64(data[int(id)*ps+pageHeaderSize+i*elementSize+8:])
}

func garble(data []byte, ps int, id uint64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range ps {
		data[int(id)*ps+i] = byte(r.Uint32())
	}
	return data
}

var damages = []damage{
	{"cut to half", "it is cut short", func(_ *testing.T, _ string, data []byte) []byte {
		return data[:len(data)/2]
	}},
	{"zero length", "it is empty (0 bytes)", func(*testing.T, string, []byte) []byte { return nil }},
	{"random bytes in a leaf page", "garbled", func(t *testing.T, path string, data []byte) []byte {
		ps := pageSize(t, data)
		leaf := branchChild(data, ps, pageOf(t, path, "drains", "cluster-03"), 1)
		return garble(data, ps, leaf, 3)
	}},
	{"random bytes in a branch page", "garbled", func(t *testing.T, path string, data []byte) []byte {
		ps := pageSize(t, data)
		return garble(data, ps, pageOf(t, path, "drains", "cluster-05"), 5)
	}},
	{"a branch page that points to itself", "referenced twice", func(t *testing.T, path string, data []byte) []byte {
		ps := pageSize(t, data)
		id := pageOf(t, path, "drains", "cluster-02")
		order.PutUint64(data[int(id)*ps+pageHeaderSize+elementSize+8:], id)
		return data
	}},
	{"both meta pages garbled", "neither meta page is valid", func(t *testing.T, _ string, data []byte) []byte {
		ps := pageSize(t, data)
		return garble(garble(data, ps, 0, 7), ps, 1, 8)
	}},
	{"free list frees a page in use", "bbolt's consistency check", func(t *testing.T, path string, data []byte) []byte {
		h, err := readHeader(data)
		if err != nil || h.freelist == noFreelist {
			t.Fatalf("no free list page: %v", err)
		}
		ps := int(h.pageSize)
		off := int(h.freelist)*ps + pageHeaderSize
		if n := order.Uint16(data[int(h.freelist)*ps+10:]); n == 0 || n == 0xFFFF {
			t.Fatalf("free list of %d entries", n)
		}
		order.PutUint64(data[off:], pageOf(t, path, "drains", "cluster-01"))
		return data
	}},
	{"free list garbled", "free list page", func(t *testing.T, _ string, data []byte) []byte {
		h, err := readHeader(data)
		if err != nil || h.freelist == noFreelist {
			t.Fatalf("no free list page: %v", err)
		}
		return garble(data, int(h.pageSize), h.freelist, 9)
	}},
}

// TestDamagedFileIsRefusedAndLeftAlone: every kind of damage is an error
// naming the file and what is wrong; the file is not touched and nothing
// crashes (before the checks, bbolt faulted or panicked on most of these,
// and started over on the empty file).
func TestDamagedFileIsRefusedAndLeftAlone(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			makeSample(t, path, 8, 200)
			bad := d.apply(t, path, read(t, path))
			write(t, path, bad)

			db, err := Open(path, Options{Logger: quiet})
			if err == nil {
				_ = db.Close() // the test fails anyway
				t.Fatal("a damaged file was opened")
			}
			var dmg *DamagedError
			if !errors.As(err, &dmg) {
				t.Fatalf("error %v (%T) is not a DamagedError", err, err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(dmg.Problem, d.problem) {
				t.Errorf("error %q: want the file and %q", err, d.problem)
			}
			sameBytes(t, path, bad)
			if c := damagedCopies(t, path); len(c) != 0 {
				t.Errorf("copies made without Recover: %v", c)
			}
		})
	}
}

// TestRecoverKeepsWhatCanBeRead: with Recover, the readable entries of every
// bucket are kept in a fresh file that opens cleanly, the damaged bytes are
// kept beside it, and nothing unreadable is made up.
func TestRecoverKeepsWhatCanBeRead(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			want := makeSample(t, path, 8, 200)
			bad := d.apply(t, path, read(t, path))
			write(t, path, bad)

			db, err := Open(path, Options{Logger: quiet, Recover: true})
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			got := contents(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := subsetOf(got, want); err != nil {
				t.Fatal(err)
			}
			copies := damagedCopies(t, path)
			if len(copies) != 1 {
				t.Fatalf("damaged copies %v, want one", copies)
			}
			sameBytes(t, copies[0], bad)
			t.Logf("kept %d of %d entries", count(got), count(want))

			switch d.name {
			case "zero length", "both meta pages garbled":
				if len(got) != 0 {
					t.Errorf("kept %v from a file with nothing readable", got)
				}
			case "random bytes in a leaf page", "a branch page that points to itself", "free list garbled", "free list frees a page in use":
				// Only the bucket with the damaged page loses entries, and
				// only those of that page (none for the free list).
				hurt := map[string]string{"random bytes in a leaf page": "drains/cluster-03",
					"a branch page that points to itself": "drains/cluster-02"}[d.name]
				for b, m := range want {
					switch {
					case b != hurt && len(got[b]) != len(m):
						t.Errorf("bucket %s: kept %d of %d", b, len(got[b]), len(m))
					case b == hurt && (len(got[b]) == 0 || len(got[b]) == len(m)):
						t.Errorf("damaged bucket %s: kept %d of %d, want some but not all", b, len(got[b]), len(m))
					}
				}
			case "random bytes in a branch page":
				if len(got["drains/cluster-05"]) != 0 || len(got["other"]) != 1 || count(got) != count(want)-200 {
					t.Errorf("kept %d entries, %d of cluster-05: want all but cluster-05's 200", count(got), len(got["drains/cluster-05"]))
				}
			case "cut to half":
				// bbolt writes a transaction's pages, root last, at the end
				// of the file: cut in half, the tree is gone with the root,
				// and old copies of pages are never taken for current ones.
			}

			// The fresh file is sound: it opens without Recover.
			db, err = Open(path, Options{Logger: quiet})
			if err != nil {
				t.Fatalf("reopening the recovered file: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNewFileIsCreatedAndReopened: an absent file starts empty; a file this
// package wrote and closed reopens with what it held.
func TestNewFileIsCreatedAndReopened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	want := makeSample(t, path, 2, 3)
	db, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // test cleanup
	if got := contents(t, db); count(got) != count(want) || subsetOf(got, want) != nil {
		t.Errorf("reopened: %v, want %v", got, want)
	}
}

// TestRandomDamageNeverCrashes overwrites random spans of a file with random
// bytes, again and again: every open either succeeds on a file bbolt can
// read end to end, or is refused as damaged; Recover always gives a file.
func TestRandomDamageNeverCrashes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	makeSample(t, good, 8, 200)
	orig := read(t, good)
	ps := pageSize(t, orig)
	runs := 300
	if testing.Short() {
		runs = 50
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	opened, refused := 0, 0
	for i := range runs {
		data := append([]byte(nil), orig...)
		off := r.IntN(len(data))
		n := 1 + r.IntN(2*ps)
		for j := off; j < min(off+n, len(data)); j++ {
			if r.IntN(4) == 0 {
				data[j] ^= 1 << r.IntN(8) // a bit flip
			} else {
				data[j] = byte(r.Uint32())
			}
		}
		path := filepath.Join(dir, "run.db")
		write(t, path, data)
		db, err := Open(path, Options{Logger: quiet})
		var dmg *DamagedError
		switch {
		case err == nil:
			contents(t, db) // reads every page bbolt reaches
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			opened++
		case errors.As(err, &dmg):
			refused++
		default:
			t.Fatalf("run %d (damage at %d+%d): %v", i, off, n, err)
		}
		write(t, path, data)
		db, err = Open(path, Options{Logger: quiet, Recover: true})
		if err != nil {
			t.Fatalf("run %d (damage at %d+%d): recover: %v", i, off, n, err)
		}
		contents(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for _, c := range damagedCopies(t, path) {
			removeFile(t, c)
		}
	}
	t.Logf("%d random damages: %d opened (damage in unused or free space, or in values), %d refused", runs, opened, refused)
}
