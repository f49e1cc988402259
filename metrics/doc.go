// Package metrics exposes vigil's Prometheus metrics: probe outcomes and
// latencies, instances by status, transitions, xDS streams and pushes, and
// Consul writes and breaker state. No metric has a per-instance label.
package metrics
