package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/internal/statedb"
	"github.com/vigilhq/vigil/overrides"
)

// defaultStateDir is where state is kept without a state_dir.
const defaultStateDir = "vigil-state"

// stateLockSlack is how much longer than drain_period a starting vigil
// waits for another one to let go of the state file: a vigil that is
// stopping holds it until its drain_period ends and it has shut down.
const stateLockSlack = 5 * time.Second

// openState opens state_dir's file (manual drains), waiting for a vigil
// that is still stopping. Its errors say what to do.
func openState(cfg *config.Config, recoverDamaged bool, log *slog.Logger) (*bolt.DB, error) {
	dir := stateDir(cfg)
	path := filepath.Join(dir, overrides.FileName)
	db, err := statedb.Open(path, statedb.Options{
		LockWait: cfg.DrainPeriod + stateLockSlack,
		Recover:  recoverDamaged,
		Logger:   log.With("component", "state"),
	})
	var damaged *statedb.DamagedError
	var locked *statedb.LockedError
	switch {
	case errors.As(err, &damaged):
		return nil, fmt.Errorf("%w. vigil did not start and left the file as it is, so no manual drain in it is silently "+
			"dropped. Either move it aside (mv %s %s.bad) to start without the drains it held, or start vigil with "+
			"-state-recover to keep what can still be read (the damaged file is kept as %s.damaged-<time>)",
			err, path, path, path)
	case errors.As(err, &locked):
		return nil, fmt.Errorf("%w (is another vigil using this state_dir? One that is stopping holds it until its "+
			"drain_period ends; this one waited drain_period + %s)", err, stateLockSlack)
	case err != nil:
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	return db, nil
}

// stateDir is the directory vigil keeps its state files in.
func stateDir(cfg *config.Config) string {
	if cfg.StateDir == "" {
		return defaultStateDir
	}
	return cfg.StateDir
}
