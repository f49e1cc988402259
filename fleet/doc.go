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
// HTTP instances do not use net/http's server: a probe costs the fleet a
// read and a write. Request heads are read into a small per-connection
// buffer and every complete (possibly pipelined) request is answered, in
// one write, with the bytes net/http would have written for the same
// handler. On Linux one goroutine serves all connections from an epoll set
// in rounds (about a thousand a second under load, so a probe may wait up to
// a millisecond longer); elsewhere each connection has a goroutine. That
// keeps the fleet's CPU per probe low enough to share a machine with the
// vigil it feeds. The per-instance cost is one listener, one accept
// goroutine and the connections a prober keeps open. A "dead" instance
// closes its listener and its connections (connection refused) and
// listens again on the same address when it comes back.
//
// Liveness stays passing while an instance is notready, draining or
// degraded, except where the product serves liveness and readiness from the
// same information: dynamo-worker's /live mirrors /health, and NativeLink has
// only /status.
package fleet
