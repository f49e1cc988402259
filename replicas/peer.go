package replicas

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/internal/consulwait"
)

// peer is another live replica: its stream of verdicts and what it said.
type peer struct {
	r         *Replica
	id        string
	advertise string
	cancel    context.CancelFunc
	done      chan struct{}
	bytesIn   atomic.Uint64

	mu        sync.RWMutex
	view      map[memberKey]peerMember // nil until a first complete snapshot
	connected bool                     // the open stream is past its snapshot
	lastHeard time.Time
	epoch     string
	snapshots int // complete snapshots received
	lastErr   string
}

// peerState is what the merger and introspection need of a peer.
type peerState struct {
	hasView   bool
	connected bool
	lastHeard time.Time
	epoch     string
	snapshots int
	lastErr   string
}

func (p *peer) state() peerState {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return peerState{hasView: p.view != nil, connected: p.connected, lastHeard: p.lastHeard,
		epoch: p.epoch, snapshots: p.snapshots, lastErr: p.lastErr}
}

// lookup returns the peer's member for an instance.
func (p *peer) lookup(k memberKey) (peerMember, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	m, ok := p.view[k]
	return m, ok
}

// run dials the peer's stream again and again, with backoff, until ctx ends.
func (p *peer) run(ctx context.Context) {
	defer close(p.done)
	bo := &consulwait.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	wasUp := true
	for ctx.Err() == nil {
		snapshotted, err := p.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		p.disconnected(err)
		if snapshotted {
			bo.Reset()
		}
		if snapshotted || wasUp {
			p.r.log.Warn("replica stream lost; redialling", "peer", p.id, "advertise", p.advertise, "error", err)
		} else {
			p.r.log.Debug("replica stream failed; redialling", "peer", p.id, "error", err)
		}
		wasUp = snapshotted
		consulwait.Sleep(ctx, bo.Next())
	}
}

func (p *peer) disconnected(err error) {
	p.mu.Lock()
	p.connected = false
	p.lastErr = err.Error()
	p.mu.Unlock()
	p.r.dirty.wake()
}

// stream reads one connection to the peer until it fails, stalls (no
// line for three heartbeats) or ctx ends. snapshotted: a complete
// snapshot arrived on it.
func (p *peer) stream(ctx context.Context) (snapshotted bool, err error) {
	o := p.r.opts
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	dog := time.AfterFunc(o.stall(), func() { stalled.Store(true); cancel() })
	defer dog.Stop()
	wrap := func(err error) error {
		if stalled.Load() {
			return fmt.Errorf("stalled: nothing for %s", o.stall())
		}
		return err
	}

	url := o.Scheme + "://" + p.advertise + o.StreamPath
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Errorf("stream request %s: %w", url, err)
	}
	resp, err := p.r.client.Do(req)
	if err != nil {
		return false, wrap(fmt.Errorf("GET %s: %w", url, err))
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, maxLine)
	var (
		pending map[memberKey]peerMember // the snapshot being received
		hello   bool
	)
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return snapshotted, fmt.Errorf("%s: a line longer than %d bytes", url, maxLine)
		}
		if err != nil {
			return snapshotted, wrap(fmt.Errorf("read %s: %w", url, err))
		}
		dog.Reset(o.stall())
		p.bytesIn.Add(uint64(len(b)))
		p.r.stats.received.Add(uint64(len(b)))
		l, err := decodeLine(b)
		if err != nil {
			return snapshotted, fmt.Errorf("%s: %w", url, err)
		}
		p.heard()
		if !hello && l.T != lineHello {
			return snapshotted, fmt.Errorf("%s: %q line before hello", url, l.T)
		}
		switch l.T {
		case lineHello:
			if l.ID != p.id || l.Proto != protoVersion {
				return snapshotted, fmt.Errorf("%s: hello from replica %q protocol %d, want %q protocol %d", url, l.ID, l.Proto, p.id, protoVersion)
			}
			hello, pending = true, make(map[memberKey]peerMember)
			p.mu.Lock()
			p.epoch = l.Epoch
			p.mu.Unlock()
		case lineMember:
			k, m, err := l.member()
			if err != nil {
				return snapshotted, fmt.Errorf("%s: %w", url, err)
			}
			if pending != nil {
				pending[k] = m
			} else {
				p.set(k, m)
			}
		case lineEnd:
			if pending == nil {
				return snapshotted, fmt.Errorf("%s: a second end of snapshot", url)
			}
			p.install(pending)
			pending, snapshotted = nil, true
		case lineGone:
			if pending != nil {
				delete(pending, memberKey{l.Cluster, l.Inst})
			} else {
				p.removeKey(memberKey{l.Cluster, l.Inst})
			}
		case lineClusterGone:
			if pending != nil {
				return snapshotted, fmt.Errorf("%s: cluster gone inside the snapshot", url)
			}
			p.remove(func(k memberKey) bool { return k.cluster == l.Cluster })
		}
		// lineHeartbeat and unknown lines: heard, nothing more.
	}
}

func (p *peer) heard() {
	now := p.r.opts.now()
	p.mu.Lock()
	p.lastHeard = now
	p.mu.Unlock()
}

// install replaces the view with a complete snapshot and marks every
// instance whose vote changed.
func (p *peer) install(next map[memberKey]peerMember) {
	p.mu.Lock()
	old := p.view
	p.view, p.connected, p.lastErr = next, true, ""
	p.snapshots++
	p.mu.Unlock()
	var changed []memberKey
	for k, m := range next {
		if o, ok := old[k]; !ok || !o.same(m) {
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := next[k]; !ok {
			changed = append(changed, k)
		}
	}
	p.r.dirty.add(changed...)
	p.r.dirty.wake()
}

func (p *peer) set(k memberKey, m peerMember) {
	p.mu.Lock()
	old, ok := p.view[k]
	p.view[k] = m
	p.mu.Unlock()
	if !ok || !old.same(m) {
		p.r.dirty.add(k)
	}
}

func (p *peer) remove(match func(memberKey) bool) {
	var gone []memberKey
	p.mu.Lock()
	for k := range p.view {
		if match(k) {
			delete(p.view, k)
			gone = append(gone, k)
		}
	}
	p.mu.Unlock()
	p.r.dirty.add(gone...)
}

func (p *peer) removeKey(k memberKey) {
	p.mu.Lock()
	_, ok := p.view[k]
	delete(p.view, k)
	p.mu.Unlock()
	if ok {
		p.r.dirty.add(k)
	}
}
