package aggregator

import (
	"sync"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// pool runs probes on the blocking path (first dials, TLS, gRPC, TCP, and
// plain HTTP without a polled connection) on worker goroutines, started on
// demand up to max. A probe submitted while every worker is busy waits its
// turn: submit never blocks, so neither the scheduler nor the poller's
// loop ever waits for a worker. A worker that finds nothing to do waits
// for the next probe, unless spareWorkers already wait: then it ends. So
// the pool holds the workers its blocking probes keep busy, and a few
// more, not max (a fleet's first round dials every instance at once).
type pool struct {
	run func(t *target, w *workerBuf) // runs t; its instance is busy for it
	max int

	mu      sync.Mutex
	more    sync.Cond // a probe was queued for an idle worker, or the pool closed
	queue   []*target // oldest first
	workers int
	idle    int // workers waiting and not yet signalled
	closed  bool
	wg      sync.WaitGroup
}

// workerBuf is a worker's own responses and read buffers, reused from
// probe to probe: the second pair is for a pair's second probe.
type workerBuf struct {
	resp, resp2       probe.Response
	scratch, scratch2 probe.Scratch
}

// spareWorkers is how many idle workers the pool keeps.
const spareWorkers = 8

func newPool(max int, run func(*target, *workerBuf)) *pool {
	p := &pool{run: run, max: max}
	p.more.L = &p.mu
	return p
}

// submit queues t for a worker; false, once the pool is closed.
func (p *pool) submit(t *target) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.queue = append(p.queue, t)
	switch {
	case p.idle > 0:
		p.idle--
		p.more.Signal()
	case p.workers < p.max:
		p.workers++
		p.wg.Add(1)
		go p.worker()
	}
	return true
}

func (p *pool) worker() {
	defer p.wg.Done()
	w := &workerBuf{scratch: probe.Scratch{Buf: make([]byte, 0, 4096)}}
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			if p.idle >= spareWorkers {
				p.workers--
				p.mu.Unlock()
				return
			}
			p.idle++
			p.more.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		t := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		p.run(t, w)
		w.scratch.Trim()
		w.scratch2.Trim()
	}
}

// size is how many workers the pool has.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers
}

// close stops the pool: each worker ends after the probe it runs, and the
// probes still waiting are returned, not run. Submit fails afterwards.
func (p *pool) close() (waiting []*target) {
	p.mu.Lock()
	p.closed = true
	waiting, p.queue = p.queue, nil
	p.more.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	return waiting
}
