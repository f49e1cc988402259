// Command fleetsim serves a simulated fleet of service instances on
// loopback (see package fleet) for benchmarks and manual runs, with an HTTP
// control API to flip instance states and an instances file for vigil.
//
//	fleetsim -n 6000 -formats mix -host 127.1.0.1 -control 127.0.0.1:7070 -instances-out fleet.yaml
//
// It runs until SIGINT or SIGTERM. One process needs about three open files
// per instance (its listener and a prober's connections); fleetsim checks
// RLIMIT_NOFILE up front and refuses to start when N does not fit.
package main
