// Package fdbudget divides vigil's open-file limit (RLIMIT_NOFILE) between
// what must always answer and the connections of probes, so that running
// out of descriptors never silences vigil and never fails an instance.
//
// A Plan splits the limit three ways:
//
//   - the reserve, max(min(256, limit/2), limit/10) descriptors, is never
//     used by probes: the admin and xDS listeners and their clients,
//     Consul, state files, logs and the Go runtime live on it;
//   - short-lived connections, 10% of the rest (at least 64, or half of it
//     when it is smaller): probe connections opened for one probe (or one
//     instance's pair of probes) and closed after it;
//   - kept connections, the remainder: at most one per instance address,
//     kept open from probe to probe.
//
// A Budget hands out those slots without locks: a checker takes a kept
// slot when it first dials and holds it until it is closed; a checker that
// found none probes on short-lived connections, taking a short-lived slot
// per connection and trying for a kept slot again on its next dial. A
// probe that finds no short-lived slot free is skipped, not failed. A
// probe on a kept connection that is open never asks the Budget anything.
package fdbudget
