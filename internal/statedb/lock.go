package statedb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// errWouldBlock is tryLock's answer when another process holds the lock.
var errWouldBlock = errors.New("locked by another process")

// lockPoll is how often a waiting Open tries the lock again.
const lockPoll = 50 * time.Millisecond

// locked is a state file opened and exclusively locked by this process.
type locked struct {
	f       *os.File
	created bool // this Open created the file
}

// lockFile opens path (creating it if absent) and takes its exclusive lock,
// waiting up to wait for another holder, and logging that it waits. The
// lock is the one bbolt itself takes, so it also excludes vigils that
// predate this package.
func lockFile(path string, wait time.Duration, log *slog.Logger) (*locked, error) {
	start := time.Now()
	deadline := start.Add(wait)
	logged := false
	for {
		l, err := openFile(path)
		if err != nil {
			return nil, err
		}
		for {
			err = tryLock(l.f)
			if !errors.Is(err, errWouldBlock) || time.Now().After(deadline) {
				break
			}
			if !logged {
				log.Warn("state file is locked by another process; waiting for it to let go",
					"file", path, "holder_pid", lockHolder(l.f), "wait_up_to", wait.String())
				logged = true
			}
			time.Sleep(lockPoll)
		}
		switch {
		case errors.Is(err, errWouldBlock):
			pid := lockHolder(l.f)
			l.release()
			return nil, &LockedError{Path: path, HolderPID: pid, Waited: time.Since(start).Round(time.Millisecond)}
		case err != nil:
			l.release()
			return nil, fmt.Errorf("lock state file %s: %w", path, err)
		}
		// A recovery in the process we waited for may have replaced the
		// file: then the lock we hold is on the old one.
		if same, err := l.isAt(path); err != nil || !same {
			l.release()
			if err != nil {
				return nil, err
			}
			continue
		}
		if logged {
			log.Info("state file lock acquired", "file", path, "waited", time.Since(start).Round(time.Millisecond).String())
		}
		return l, nil
	}
}

// openFile opens path read-write, creating it (and its directory) if absent.
func openFile(path string) (*locked, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return &locked{f: f, created: true}, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create state file %s: %w", path, err)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	return &locked{f: f}, nil
}

// isAt reports whether the open file is still the one at path.
func (l *locked) isAt(path string) (bool, error) {
	a, err := l.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat state file %s: %w", path, err)
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat state file %s: %w", path, err)
	}
	return os.SameFile(a, b), nil
}

// release closes the file, which drops the lock unless an open database
// holds it through a descriptor of its own.
func (l *locked) release() { _ = l.f.Close() }
