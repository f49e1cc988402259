// Package aggregator probes instances, reads their responses in each
// dialect and runs the rise/fall state machines that decide every
// instance's status, which it writes into a membership.Store. Publishers
// read that store; they never import this package.
//
// # How a probe runs
//
// The scheduler keeps every queued probe in one heap by due time and, at
// each wakeup, hands the batch that fell due to dispatch. An instance's
// run state (runner, in runner.go: idle, one probe out, a pair out, with
// probes queued behind) says whether a due probe starts now or waits: an
// instance's probes never overlap. A probe starts on the poller (plain
// HTTP on a kept connection; its Done comes back on the poller's loop) or
// on a worker of the pool (everything that blocks). Its result is recorded
// under the instance's lock, which also queues the probe's next run, the
// instance's member for the committer when it changed, and ends the
// probe's turn in the runner, which names the probe to run next.
//
// A probe that vigil could not run properly (out of descriptors, local
// ports or socket memory, no slot in the fd budget, or waiting for a
// worker longer than its period) is skipped instead (skips.go): its turn
// ends and it goes back on its schedule without a result, so its machine
// is not stepped and the instance keeps its verdict.
//
// # When vigil suspects itself
//
// Each result is classified (probe.Classify): an answer, or a
// connection-level failure. The fail-safe's guard (guard.go: normal or
// holding) hears of an instance only when that flips, so a passing probe
// costs it nothing; while it holds, a connection-level failure of an
// instance in rotation is recorded but not counted by its machine, and
// the instance is held (failsafe.go); one whose failures began in the
// window of the trip and took it out already is put back, held, with its
// machines as they stood at its onset. Per cluster, the ejector
// (ejector.go) caps the instances out of rotation for failed probes at
// max_ejection_percent; the others wait, held (ejection.go). The hold
// loop publishes trips and releases and re-decides the instances handed
// back, outside any instance's lock.
//
// # Lock order
//
// This is the only place it is written; code that takes two of these locks
// takes them in this order.
//
//  1. Aggregator.applyMu: Apply, one at a time.
//  2. committer.flushMu: a commit while it writes a batch; Apply while it
//     queues whole clusters, so that no batch lands between its reading of
//     a member and its writing of the cluster.
//  3. instance.mu: one instance at a time, never two. Nothing commits
//     while holding it: member changes are queued under it and committed
//     once it is released (or by the poller after its round).
//  4. Aggregator.mu, scheduler.mu, committer.mu, pool.mu, skipLog.mu,
//     guard.mu, ejector.mu, redoQueue.mu: taken alone or under an
//     instance's mu, never one under another. The guard and the ejectors
//     never call back into instances: what they hand back (a release's
//     held instances, an instance to re-decide) is taken by the hold loop,
//     which locks each instance on its own.
//  5. The membership.Store's locks.
//
// The probe package's locks (a checker's and its hold on the fd budget,
// the poller's start lock, its inbox's) are leaves: taken under any of the above, and held while
// calling nothing of this package. The poller's loop calls Done and
// afterRound holding no lock.
package aggregator
