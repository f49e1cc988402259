// Package upstreams describes what vigil probes: clusters, their probe
// specifications and their instances. It turns a validated config into that
// model and can discover instances from other sources (Consul). The model is
// plain data: the aggregator consumes it, publishers read it through
// membership snapshots.
package upstreams
