package aggregator

import "sync"

// redoQueue holds instances to re-decide outside the lock of whoever found
// them (an instance that left rotation frees a place under the cap while
// its own mu is held, and must not lock another instance then). The hold
// loop takes them. Lock order: instance mu, then redoQueue.mu, which is
// held for nothing else.
type redoQueue struct {
	mu    sync.Mutex
	insts []*instance
	wake  chan struct{}
}

func newRedoQueue() *redoQueue { return &redoQueue{wake: make(chan struct{}, 1)} }

// add queues instances (nil ones are skipped) and wakes the hold loop.
func (q *redoQueue) add(insts ...*instance) {
	n := 0
	q.mu.Lock()
	for _, inst := range insts {
		if inst != nil {
			q.insts = append(q.insts, inst)
			n++
		}
	}
	q.mu.Unlock()
	if n > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take returns what is queued, oldest first, and empties the queue.
func (q *redoQueue) take() []*instance {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.insts
	q.insts = nil
	return out
}
