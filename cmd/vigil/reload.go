package main

import (
	"errors"
	"strings"

	"github.com/vigilhq/vigil/config"
)

// errStopping refuses a reload once vigil has begun to stop.
var errStopping = errors.New("vigil is stopping")

// reload re-reads the config and applies its clusters. An invalid config
// is rejected and the running one stays. Listeners, Consul settings and
// state_dir take effect only on restart. One reload runs at a time.
func (a *app) reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.stopping {
		return errStopping
	}
	cfg, err := a.load()
	if err != nil {
		a.log.Error("reload rejected: config invalid, keeping the running config", "error", err)
		return err
	}
	a.applyMu.Lock()
	old := a.config()
	clusters := a.clusters(cfg)
	err = a.agg.Apply(clusters)
	if err == nil {
		a.agg.SetFailSafe(failSafeOf(cfg))
		a.mu.Lock()
		a.cfg = cfg
		a.mu.Unlock()
	}
	a.applyMu.Unlock()
	if err != nil {
		a.log.Error("reload rejected", "error", err)
		return err
	}
	if changed := restartOnly(old, cfg); len(changed) > 0 {
		a.log.Warn("reload: these settings take effect only when vigil restarts", "settings", strings.Join(changed, ", "))
	}
	a.fit.note(a.log, a.budget, clusters, "reload", true)
	a.stopDiscovery()
	a.startDiscovery(cfg)
	a.log.Info("config reloaded", "clusters", len(cfg.Clusters))
	return nil
}

// restartOnly names the settings that differ between old and cfg but that a
// reload does not apply.
func restartOnly(old, cfg *config.Config) []string {
	var changed []string
	if old.Admin.Listen != cfg.Admin.Listen {
		changed = append(changed, "admin.listen")
	}
	if old.XDS.Listen != cfg.XDS.Listen {
		changed = append(changed, "xds.listen")
	}
	if old.StateDir != cfg.StateDir {
		changed = append(changed, "state_dir")
	}
	if old.RestoreMaxAge != cfg.RestoreMaxAge {
		changed = append(changed, "restore_max_age")
	}
	if (old.Consul == nil) != (cfg.Consul == nil) || (old.Consul != nil && *old.Consul != *cfg.Consul) {
		changed = append(changed, "consul")
	}
	if (old.Replicas == nil) != (cfg.Replicas == nil) || (old.Replicas != nil && *old.Replicas != *cfg.Replicas) {
		changed = append(changed, "replicas")
	}
	return changed
}
