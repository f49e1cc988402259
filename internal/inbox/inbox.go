// Package inbox is how other goroutines reach a loop that owns its state
// alone (the probe poller and the simulated fleet's poller own their
// connections this way): they post messages, and the owner takes them, in
// order, between rounds of its own work. Nothing else of the owner's is
// shared, so it needs no lock and no flag that another goroutine waits on.
//
// The owner tells the inbox when it is about to wait (Sleep) and when it
// woke (Awake); a post wakes a sleeping owner once, through the wake
// function (a pipe in the owner's epoll set), not once per message. Hold
// and Release let a goroutine that posts a burst defer that one wakeup
// until the burst is in.
package inbox

import "sync"

// Inbox queues messages of type T for one owner.
type Inbox[T any] struct {
	// wake ends the owner's wait. It is called with mu held, so the owner
	// cannot have taken the inbox's close and released what wake uses
	// (its pipe) meanwhile; it must be quick and must not post.
	wake func()

	mu     sync.Mutex
	msgs   []T
	spare  []T // what the owner took last, reused by the next Take
	closed bool
	asleep bool // the owner waits (or is about to) and has not been woken
	holds  int  // bursts in progress: a wakeup waits for the last to end
}

// New returns an inbox whose posts call wake to end the owner's wait.
func New[T any](wake func()) *Inbox[T] { return &Inbox[T]{wake: wake} }

// Post queues m for the owner. It returns false, queuing nothing, once
// the inbox is closed.
func (b *Inbox[T]) Post(m T) bool { return b.post(m, false) }

// Reply queues m even once the inbox is closed: for an answer the owner
// counts on (the result of work it handed to another goroutine), which
// must reach it while it finishes what is outstanding.
func (b *Inbox[T]) Reply(m T) { b.post(m, true) }

func (b *Inbox[T]) post(m T, always bool) bool {
	b.mu.Lock()
	if b.closed && !always {
		b.mu.Unlock()
		return false
	}
	b.msgs = append(b.msgs, m)
	b.wakeLocked()
	b.mu.Unlock()
	return true
}

// wakeLocked wakes the owner if it sleeps and no burst is being posted.
// b.mu is held.
func (b *Inbox[T]) wakeLocked() {
	if b.asleep && b.holds == 0 {
		b.asleep = false
		b.wake()
	}
}

// Hold defers the wakeup that posts would cause until the matching
// Release, so that a burst of posts costs the owner one wakeup.
func (b *Inbox[T]) Hold() {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
}

// Release ends a Hold, waking the owner if it sleeps with messages posted.
func (b *Inbox[T]) Release() {
	b.mu.Lock()
	b.holds--
	if len(b.msgs) > 0 {
		b.wakeLocked()
	}
	b.mu.Unlock()
}

// Close refuses posts from now on (Reply still queues) and wakes the
// owner, which sees it in Take. Closing again does nothing.
func (b *Inbox[T]) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.wakeLocked()
	b.mu.Unlock()
}

// Closed reports whether Close was called.
func (b *Inbox[T]) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Take returns the messages posted since the last Take, oldest first, and
// whether the inbox is closed (no post follows those messages then, only
// replies). For the owner only: the slice is valid until its next Take.
func (b *Inbox[T]) Take() (msgs []T, closed bool) {
	clear(b.spare) // the owner is done with them: drop their references
	b.mu.Lock()
	msgs = b.msgs
	b.msgs, b.spare = b.spare[:0], msgs
	closed = b.closed
	b.mu.Unlock()
	return msgs, closed
}

// Sleep tells that the owner is about to wait for a wakeup. It returns
// false when messages are pending: the owner must not wait then.
func (b *Inbox[T]) Sleep() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.msgs) > 0 {
		return false
	}
	b.asleep = true
	return true
}

// Awake tells that the owner's wait ended, woken or not. A wakeup already
// sent is still delivered; the owner's next wait then returns at once.
func (b *Inbox[T]) Awake() {
	b.mu.Lock()
	b.asleep = false
	b.mu.Unlock()
}
