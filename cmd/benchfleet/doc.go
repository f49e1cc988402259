// Command benchfleet is vigil's fleet benchmark (`make bench`). For each
// fleet size it starts simulated fleets (bin/fleetsim), a vigil process
// (bin/vigil serve) probing every instance's liveness and readiness, an ADS
// watcher and an admin event-stream reader; it measures probe throughput,
// schedule accuracy, vigil's CPU, memory and goroutines, flips a known share
// of instances to measure detection and propagation latency, then runs a bare
// net/http probe loop against the same fleet as a baseline, and writes the
// results to BENCHMARKS.md.
//
// Every child process is stopped when benchfleet exits, on error paths and
// on SIGINT/SIGTERM; children also get SIGKILL should benchfleet die.
package main
