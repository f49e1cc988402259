// Package verdicts keeps the last published verdict of every instance in
// state_dir (verdicts.db, bbolt), so that a restarted vigil publishes what
// consumers already saw until its own probes confirm or change it.
//
// A Writer follows the membership store like any publisher: snapshots
// share unchanged members, so a changed member is a pointer comparison,
// and what changed is written in one transaction at most once per second,
// never on the probe path. A steady fleet writes nothing but a heartbeat
// (confirmed_at), which says when the file last matched a running vigil;
// verdicts older than restore_max_age by it are not restored.
//
// The file is a cache: Open moves a damaged or unreadable file aside with
// a loud log and starts empty, and a write that fails is logged and
// retried, so losing it never stops or crashes vigil.
package verdicts
