// Package fleet runs simulated service instances on loopback for demos,
// end-to-end tests and benchmarks of vigil.
//
// Each instance has its own listener on its own host:port (spread over
// 127.0.0.0/8) and answers probes in one Format, byte-for-byte like the
// products described in the seed documents: Dynamo frontend and worker,
// the /healthz+/readyz engine, NativeLink /status, AMSDAL /api/probes, a
// plain "ok" status endpoint, and grpc.health.v1. An instance's State can be
// flipped at any time (Fleet.Set, or the HTTP control API from
// Fleet.ControlHandler); every flip is recorded with its time so a harness
// can measure how long vigil takes to notice.
//
// All HTTP instances share one http.Server and one handler: each accepted
// connection carries its instance, so the per-instance cost is one listener,
// one accept goroutine and the connections a prober keeps open. A "dead"
// instance closes its listener and its connections (connection refused) and
// listens again on the same address when it comes back.
//
// Liveness stays passing while an instance is notready, draining or
// degraded, except where the product serves liveness and readiness from the
// same information: dynamo-worker's /live mirrors /health, and NativeLink has
// only /status.
package fleet
