package api

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigilhq/vigil/membership"
)

// RestoreOverrides applies every unexpired persisted override to the
// aggregator; call it once after the first Apply. Expired entries are
// dropped from the store. Entries whose instance the aggregator does not
// know (yet) are kept and logged: the instance may come back with a later
// reload or discovery. It returns how many overrides were applied.
func RestoreOverrides(store OverrideStore, insp Inspector, logger *slog.Logger) (int, error) {
	if logger == nil {
		logger = slog.Default()
	}
	entries, err := store.List()
	if err != nil {
		return 0, fmt.Errorf("restore overrides: %w", err)
	}
	var (
		applied int
		errs    []error
	)
	for _, e := range entries {
		o := e.Override
		err := insp.SetOverride(e.Cluster, e.Instance, &o)
		switch {
		case err == nil:
			applied++
		case errors.Is(err, membership.ErrNotFound):
			logger.Warn("persisted override for an unknown instance kept", "cluster", e.Cluster, "instance", e.Instance)
		default:
			errs = append(errs, fmt.Errorf("restore override %s/%s: %w", e.Cluster, e.Instance, err))
		}
	}
	logger.Info("restored manual overrides", "applied", applied, "persisted", len(entries))
	return applied, errors.Join(errs...)
}
