package replicas

import "sync"

// dirtySet collects the instances whose peer votes changed and wakes the
// merger; it coalesces, so a burst of changes costs one wakeup.
type dirtySet struct {
	mu     sync.Mutex
	keys   map[memberKey]struct{}
	notify chan struct{}
}

func newDirtySet() *dirtySet {
	return &dirtySet{keys: make(map[memberKey]struct{}), notify: make(chan struct{}, 1)}
}

// C is signalled when something changed.
func (d *dirtySet) C() <-chan struct{} { return d.notify }

// add marks instances whose votes changed.
func (d *dirtySet) add(keys ...memberKey) {
	if len(keys) == 0 {
		return
	}
	d.mu.Lock()
	for _, k := range keys {
		d.keys[k] = struct{}{}
	}
	d.mu.Unlock()
	d.wake()
}

// wake asks the merger to look again (the voters may have changed).
func (d *dirtySet) wake() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// take returns and clears the marked instances.
func (d *dirtySet) take() map[memberKey]struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.keys) == 0 {
		return nil
	}
	out := d.keys
	d.keys = make(map[memberKey]struct{})
	return out
}
