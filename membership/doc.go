// Package membership is the model every publisher reads: clusters and their
// members with published statuses, immutable versioned snapshots, change
// subscriptions that never block writers, and the event history. The
// aggregator writes it; xds, consul, api and metrics read it.
package membership
