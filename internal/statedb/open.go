package statedb

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultLockWait is how long Open waits for another holder of the file.
const DefaultLockWait = 2 * time.Second

// Options configure Open.
type Options struct {
	// LockWait bounds how long Open waits while another process holds the
	// file (default DefaultLockWait). It logs that it waits.
	LockWait time.Duration
	// Recover makes Open take a damaged file instead of refusing it: what
	// can still be read is copied into a fresh file that takes its place,
	// and the damaged file is kept as <path>.damaged-<UTC time>. Open logs
	// what it kept and what it could not read.
	Recover bool
	Logger  *slog.Logger // nil: slog.Default()
}

// Open opens the bbolt file at path, creating it (and its directory) when
// absent. An existing file is checked before bbolt maps it and then with
// bbolt's own consistency check; a damaged one is refused with a
// *DamagedError, or recovered with Options.Recover. An empty existing file
// counts as damaged: it is never silently started over. When another
// process holds the file past Options.LockWait, the error is a
// *LockedError. The returned database holds the lock until closed.
func Open(path string, o Options) (*bolt.DB, error) {
	if o.LockWait <= 0 {
		o.LockWait = DefaultLockWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	l, err := lockFile(path, o.LockWait, o.Logger)
	if err != nil {
		return nil, err
	}
	db, data, err := l.open(path)
	var dmg *DamagedError
	if !o.Recover || !errors.As(err, &dmg) {
		l.release()
		return db, err
	}
	// bbolt drops the lock when it gives up on a file; recover only while
	// the lock is still (or again) this process's.
	if err := tryLock(l.f); err != nil {
		l.release()
		return nil, fmt.Errorf("%w (not recovered: the file was locked again by another process)", dmg)
	}
	rec, err := salvage(path, data)
	l.release()
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", path, err)
	}
	o.Logger.Warn("state file was damaged: kept what could be read in a fresh file; the damaged file is kept",
		"file", path, "damage", dmg.Problem, "kept_entries", rec.entries, "kept_buckets", rec.buckets,
		"unreadable", len(rec.problems), "lost", rec.lostSummary(), "damaged_copy", rec.keptAs)
	o.Recover = false
	return Open(path, o)
}

// open checks the locked file and opens it with bbolt. On a *DamagedError
// it also returns the file's bytes. The caller releases l in every case:
// an open database holds the lock through a descriptor of its own.
func (l *locked) open(path string) (*bolt.DB, []byte, error) {
	data, err := readAll(l.f)
	if err != nil {
		return nil, nil, fmt.Errorf("read state file %s: %w", path, err)
	}
	fresh := len(data) == 0 && l.created
	if !fresh {
		if err := check(data); err != nil {
			return nil, data, &DamagedError{Path: path, Problem: err.Error()}
		}
	}
	dup, err := dupFile(l.f)
	if err != nil {
		return nil, nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	var db *bolt.DB
	err = guarded(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  time.Second, // the lock is already ours: bbolt takes it again on the same open file
			OpenFile: func(string, int, os.FileMode) (*os.File, error) { return dup, nil },
		})
		return err
	})
	if err != nil {
		_ = dup.Close() // bbolt closed it already unless it panicked
		if fresh {
			// Nothing was ever stored in it: do not leave an empty file
			// that the next start would take for a damaged one.
			_ = os.Remove(path)
			return nil, nil, fmt.Errorf("create state file %s: %w", path, err)
		}
		return nil, data, &DamagedError{Path: path, Problem: err.Error()}
	}
	if !fresh {
		if err := consistent(db); err != nil {
			_ = db.Close()
			return nil, data, &DamagedError{Path: path, Problem: err.Error()}
		}
	}
	return db, nil, nil
}

func readAll(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	n, err := f.ReadAt(data, 0)
	if n == len(data) {
		return data, nil
	}
	return nil, err
}

// check reads the whole layout of a file with plain reads.
func check(data []byte) error {
	h, err := readHeader(data)
	if err != nil {
		return err
	}
	if probs := walkTree(data, h, visitor{}); len(probs) > 0 {
		return errors.New(summarize(probs))
	}
	return checkFreelist(data, h)
}

// consistent runs bbolt's consistency check (free pages, page references,
// key order) on a file that passed check.
func consistent(db *bolt.DB) error {
	return guarded(func() error {
		return db.View(func(tx *bolt.Tx) error {
			var probs []string
			for err := range tx.Check() {
				probs = append(probs, err.Error())
			}
			if len(probs) == 0 {
				return nil
			}
			return fmt.Errorf("bbolt's consistency check: %s", summarizeStrings(probs))
		})
	})
}

func summarize(probs []problem) string {
	s := make([]string, len(probs))
	for i, p := range probs {
		s[i] = p.String()
	}
	return summarizeStrings(s)
}

// summarizeStrings keeps an error message short: the first few problems
// and how many more there are.
func summarizeStrings(s []string) string {
	const show = 3
	if len(s) <= show {
		return strings.Join(s, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(s[:show], "; "), len(s)-show)
}
