// Package probe performs single health probes against one target over
// HTTP/1.1 (a lean client on a persistent connection), gRPC health or TCP,
// and returns the raw response for a dialect to read.
package probe
