package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// Enumerations accepted by the configuration (read-only). The dialects are
// not among them: their registry lives with the prober (see WithDialects).
var (
	probeKinds    = []string{"http", "grpc", "tcp"}
	schemes       = []string{"http", "https"}
	initialStates = []string{"unhealthy", "unknown", "healthy"}
	lbPolicies    = []string{"ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"}
)

// LBPolicyNames lists the lb_policy values a cluster may name; the xds
// package's tests check that it publishes each of them.
func LBPolicyNames() []string { return slices.Clone(lbPolicies) }

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func enumMsg(v string, allowed []string) string {
	return fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

// isSet reports whether a value counts as given: non-zero, or written in a
// file (an explicit zero).
func isSet(col *collector, field string, nonZero bool) bool {
	return nonZero || col.set(field)
}

func positiveDuration(col *collector, field string, d time.Duration) {
	if isSet(col, field, d != 0) && d <= 0 {
		col.at(field, "must be greater than 0")
	}
}

// percent checks a share given in percent, 1..100 (0 only when unset).
func percent(col *collector, field string, v int) {
	if isSet(col, field, v != 0) && (v < 1 || v > 100) {
		col.at(field, "must be between 1 and 100 (percent), got %d", v)
	}
}

func (c *Config) validateGlobal(col *collector) {
	checkListen(col, "admin.listen", c.Admin.Listen)
	checkListen(col, "xds.listen", c.XDS.Listen)
	if c.DrainPeriod < 0 {
		col.at("drain_period", "must not be negative")
	}
	if c.RestoreMaxAge < 0 {
		col.at("restore_max_age", "must not be negative")
	}
	if isSet(col, "max_concurrency", c.MaxConcurrency != 0) && c.MaxConcurrency < 1 {
		col.at("max_concurrency", "must be at least 1")
	}
	if isSet(col, "event_history", c.EventHistory != 0) && c.EventHistory < 1 {
		col.at("event_history", "must be at least 1")
	}
	if k := c.Consul; k != nil {
		checkConsulAddress(col, "consul.address", k.Address)
		if !namePattern.MatchString(k.Deployment) {
			col.at("consul.deployment", "%q may only contain letters, digits, '.', '_' and '-'", k.Deployment)
		}
		derived := k.Node == "vigil-"+k.Deployment
		if !namePattern.MatchString(k.Node) && (!derived || namePattern.MatchString(k.Deployment)) {
			col.at("consul.node", "%q may only contain letters, digits, '.', '_' and '-'", k.Node)
		}
		positiveDuration(col, "consul.batch_window", k.BatchWindow)
		positiveDuration(col, "consul.output_update_interval", k.OutputUpdateInterval)
		positiveDuration(col, "consul.resync_interval", k.ResyncInterval)
	}
	percent(col, "fail_safe.global_failure_percent", c.FailSafe.GlobalFailurePercent)
	if isSet(col, "fail_safe.min_clusters", c.FailSafe.MinClusters != 0) && c.FailSafe.MinClusters < 1 {
		col.at("fail_safe.min_clusters", "must be at least 1")
	}
	percent(col, "defaults.max_ejection_percent", c.Defaults.MaxEjectionPercent)
	c.validateReplicas(col)
	if !oneOf(c.Defaults.InitialStatus, initialStates) {
		col.at("defaults.initial_status", "%s", enumMsg(c.Defaults.InitialStatus, initialStates))
	}
	validateSettings(col, "defaults", &c.Defaults.ProbeSettings)
	c.loadTLS(col, "defaults.tls", c.Defaults.TLS)
	// Probes check how timeout and interval combine; this covers a
	// configuration whose defaults conflict but has no probes yet.
	if d := c.Defaults; d.Timeout > 0 && d.Interval > 0 && d.Timeout > d.Interval {
		if col.set("defaults.timeout") || !col.set("defaults.interval") {
			col.at("defaults.timeout", "must not be longer than interval (%s)", d.Interval)
		} else {
			col.at("defaults.interval", "must not be shorter than timeout (%s)", d.Timeout)
		}
	}
}

// checkListen validates a host:port to listen on; port 0 picks a free port.
func checkListen(col *collector, field, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		col.at(field, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		col.at(field, "port %q must be a number 0..65535", port)
	}
}

func checkConsulAddress(col *collector, field, addr string) {
	if addr == "" {
		col.at(field, "required when the consul block is present")
		return
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			col.at(field, "%q must be host:port or an http(s):// URL", addr)
		}
		return
	}
	if msg := hostPortProblem(addr); msg != "" {
		col.at(field, "%s", msg)
	}
}

var hostnamePattern = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*\.?$`)

// hostPortProblem explains what is wrong with a host:port that must name a
// reachable endpoint (IP or hostname, port 1..65535), or returns "".
func hostPortProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if host == "" {
		return fmt.Sprintf("%q has no host", addr)
	}
	if net.ParseIP(host) == nil && !hostnamePattern.MatchString(host) {
		return fmt.Sprintf("%q: host %q is neither an IP address nor a hostname", addr, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: port must be a number 1..65535", addr)
	}
	return ""
}

// validateSettings checks the values written at one inheritance level.
func validateSettings(col *collector, prefix string, s *ProbeSettings) {
	f := func(key string) string { return prefix + "." + key }
	positiveDuration(col, f("interval"), s.Interval)
	positiveDuration(col, f("unhealthy_interval"), s.UnhealthyInterval)
	positiveDuration(col, f("timeout"), s.Timeout)
	if s.JitterPercent != nil && (*s.JitterPercent < 0 || *s.JitterPercent > 100) {
		col.at(f("jitter_percent"), "must be between 0 and 100")
	}
	if isSet(col, f("healthy_threshold"), s.HealthyThreshold != 0) && s.HealthyThreshold < 1 {
		col.at(f("healthy_threshold"), "must be at least 1")
	}
	if isSet(col, f("unhealthy_threshold"), s.UnhealthyThreshold != 0) && s.UnhealthyThreshold < 1 {
		col.at(f("unhealthy_threshold"), "must be at least 1")
	}
	if isSet(col, f("max_body_bytes"), s.MaxBodyBytes != 0) && (s.MaxBodyBytes < 1 || s.MaxBodyBytes > MaxMaxBodyBytes) {
		col.at(f("max_body_bytes"), "must be between 1 and %d (16 MiB)", MaxMaxBodyBytes)
	}
	if s.ExpectedStatuses != nil {
		if len(s.ExpectedStatuses) == 0 {
			col.at(f("expected_statuses"), "must not be empty")
		}
		for i, item := range s.ExpectedStatuses {
			if _, _, err := ParseStatus(item); err != nil {
				col.at(fmt.Sprintf("%s[%d]", f("expected_statuses"), i), "%v", err)
			}
		}
	}
}

// statusesValid reports whether a status list can be inherited.
func statusesValid(l StatusList) bool {
	if len(l) == 0 {
		return false
	}
	for _, item := range l {
		if _, _, err := ParseStatus(item); err != nil {
			return false
		}
	}
	return true
}
