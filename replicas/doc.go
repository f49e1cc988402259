// Package replicas runs vigil as several replicas coordinated through
// Consul. Every replica probes every instance into its own local store;
// the replicas find each other through a Consul session and a registry
// key each, stream their own verdicts to each other over HTTP (NDJSON:
// a snapshot, then deltas and heartbeats), and each merges its own and its
// live peers' verdicts by quorum into a second store, the merged view its
// publishers read. One replica at a time holds the Consul writer lock and
// may write the catalog; its writes are fenced by the lock's session.
// Manual drains are shared through Consul KV (Drains), with the bbolt
// overrides store as a local cache. docs/replicas.md explains the design.
package replicas
