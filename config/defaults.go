package config

import "time"

// Built-in defaults.
const (
	DefaultAdminListen          = "127.0.0.1:8080"
	DefaultXDSListen            = "127.0.0.1:18000"
	DefaultDrainPeriod          = 5 * time.Second
	DefaultRestoreMaxAge        = 10 * time.Minute
	DefaultMaxConcurrency       = 1024
	DefaultEventHistory         = 10000
	DefaultConsulDeployment     = "vigil"
	DefaultConsulBatchWindow    = 200 * time.Millisecond
	DefaultConsulOutputInterval = 30 * time.Second
	DefaultConsulResync         = 60 * time.Second
	DefaultGlobalFailurePercent = 60
	DefaultFailSafeMinClusters  = 2
	DefaultMaxEjectionPercent   = 100

	DefaultInterval           = 5 * time.Second
	DefaultTimeout            = 1 * time.Second
	DefaultJitterPercent      = 10
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	DefaultInitialStatus      = "unhealthy"
	DefaultMaxBodyBytes       = 64 << 10
	MaxMaxBodyBytes           = 16 << 20
	DefaultExpectedStatuses   = "200-299"

	DefaultDialect        = "auto"
	DefaultKind           = "http"
	DefaultScheme         = "http"
	DefaultPath           = "/"
	DefaultLBPolicy       = "ROUND_ROBIN"
	DefaultConnectTimeout = 1 * time.Second
	DefaultWeight         = 1
)

// Default returns a configuration with every default filled in and no
// clusters.
func Default() *Config {
	c := &Config{}
	c.applyGlobalDefaults()
	return c
}

// applyGlobalDefaults fills everything outside clusters. Values written
// explicitly in a file are kept even when zero (validation rejects the
// invalid ones).
func (c *Config) applyGlobalDefaults() {
	set := func(field string) bool { _, ok := c.pos[field]; return ok }
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.XDS.Listen == "" {
		c.XDS.Listen = DefaultXDSListen
	}
	if c.XDS.GRPCListeners == nil {
		c.XDS.GRPCListeners = Ptr(true)
	}
	if c.DrainPeriod == 0 && !set("drain_period") {
		c.DrainPeriod = DefaultDrainPeriod
	}
	if c.RestoreMaxAge == 0 && !set("restore_max_age") {
		c.RestoreMaxAge = DefaultRestoreMaxAge
	}
	if c.MaxConcurrency == 0 && !set("max_concurrency") {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.EventHistory == 0 && !set("event_history") {
		c.EventHistory = DefaultEventHistory
	}
	if k := c.Consul; k != nil {
		if k.Deployment == "" {
			k.Deployment = DefaultConsulDeployment
		}
		if k.Node == "" {
			k.Node = "vigil-" + k.Deployment
		}
		if k.BatchWindow == 0 && !set("consul.batch_window") {
			k.BatchWindow = DefaultConsulBatchWindow
		}
		if k.OutputUpdateInterval == 0 && !set("consul.output_update_interval") {
			k.OutputUpdateInterval = DefaultConsulOutputInterval
		}
		if k.ResyncInterval == 0 && !set("consul.resync_interval") {
			k.ResyncInterval = DefaultConsulResync
		}
	}
	if c.FailSafe.Enabled == nil {
		c.FailSafe.Enabled = Ptr(true)
	}
	if c.FailSafe.GlobalFailurePercent == 0 && !set("fail_safe.global_failure_percent") {
		c.FailSafe.GlobalFailurePercent = DefaultGlobalFailurePercent
	}
	if c.FailSafe.MinClusters == 0 && !set("fail_safe.min_clusters") {
		c.FailSafe.MinClusters = DefaultFailSafeMinClusters
	}
	c.applyReplicasDefaults()
	d := &c.Defaults
	if d.MaxEjectionPercent == 0 && !set("defaults.max_ejection_percent") {
		d.MaxEjectionPercent = DefaultMaxEjectionPercent
	}
	if d.InitialStatus == "" {
		d.InitialStatus = DefaultInitialStatus
	}
	if d.Interval == 0 && !set("defaults.interval") {
		d.Interval = DefaultInterval
	}
	if d.Timeout == 0 && !set("defaults.timeout") {
		d.Timeout = DefaultTimeout
	}
	if d.JitterPercent == nil {
		d.JitterPercent = Ptr(DefaultJitterPercent)
	}
	if d.HealthyThreshold == 0 && !set("defaults.healthy_threshold") {
		d.HealthyThreshold = DefaultHealthyThreshold
	}
	if d.UnhealthyThreshold == 0 && !set("defaults.unhealthy_threshold") {
		d.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if d.MaxBodyBytes == 0 && !set("defaults.max_body_bytes") {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.ExpectedStatuses == nil && !set("defaults.expected_statuses") {
		d.ExpectedStatuses = StatusList{DefaultExpectedStatuses}
	}
	// defaults.unhealthy_interval stays zero when unset: it means "the
	// probe's own interval", which is resolved per probe.
}
