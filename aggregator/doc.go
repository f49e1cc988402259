// Package aggregator probes instances, reads their responses in each
// dialect and runs the rise/fall state machines that decide every
// instance's status, which it writes into a membership.Store. Publishers
// read that store; they never import this package.
package aggregator
