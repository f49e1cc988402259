// Package consul publishes vigil's membership verdicts into the Consul
// catalog: every instance becomes a service instance on an external node that
// vigil owns, carrying one vigil-owned check whose status follows the
// published status. Writes are batched through /v1/txn with check-and-set,
// go through a circuit breaker, and a periodic reconcile repairs drift.
package consul
