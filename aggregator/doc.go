// Package aggregator probes instances, reads their responses in each
// dialect, runs the rise/fall state machines that decide every instance's
// published status, and keeps the versioned membership store that
// publishers (xds, consul, api) read and subscribe to.
package aggregator
