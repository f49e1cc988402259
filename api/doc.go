// Package api serves vigil's admin HTTP interface: the JSON dashboard API
// (clusters, instances, probe history, event history and a Server-Sent
// Events stream), manual drains with bearer-token auth persisted through
// package overrides, config reload, vigil's own /healthz and /readyz, the
// Prometheus /metrics endpoint and the embedded web dashboard at /.
package api
