// Package probe performs single health probes against one target over
// HTTP/1.1 (a lean client on a persistent connection), gRPC health or TCP,
// and returns the raw response for a dialect to read.
//
// A Request is built once per (instance, probe) with NewRequest; a Checker
// per instance address with NewChecker. The HTTP checker writes the
// pre-built request bytes and parses the response into the caller's
// Scratch without allocating in steady state. Response.Body aliases
// Scratch.Buf; ContentType and Location are ordinary strings (a checker
// reuses the previous string when the value did not change), safe to keep.
// Response.Err matches ErrMalformed, ErrBodyTooLarge,
// os.ErrDeadlineExceeded or syscall errors through errors.Is. Skipped
// tells vigil's own faults (out of descriptors, local ports or socket
// memory, no fd budget slot) from the target's: such a probe says nothing
// about the target. Classify tells an answer from a probe that reached
// nothing (refused, reset, timed out, no route), for the fail-safe.
//
// With CheckerOptions.Budget, a checker keeps its connection only while it
// holds a kept slot of the fd budget; without one, it probes on
// short-lived connections, opened per probe (or per pair of probes, with
// CheckPair) and reset when closed.
//
// On Linux a Poller can take over plain-HTTP keep-alive connections after
// their first response: probes are then started with AsyncChecker.Start,
// which hands them to the Poller's one goroutine, the connections' only
// owner: it writes the requests, reads every answer that arrived from one
// epoll set and calls Flight.Done; no goroutine waits per probe. Anything
// unusual (no connection yet, TLS, an answer in pieces, a closed
// keep-alive) goes through the blocking Check instead.
package probe
