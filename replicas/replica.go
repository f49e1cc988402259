package replicas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Replica is one vigil replica's coordination: its Consul session and
// registry key, the streams to and from its peers, the merge of their
// verdicts into the merged store, and the catalog writer lock.
type Replica struct {
	opts    Options
	log     *slog.Logger
	keys    keys
	checkID string
	epoch   string    // per process start: tells a restarted peer's stream from the old one
	started time.Time // when New ran (the registry shows it)
	client  *http.Client
	own     *http.Transport // the client's transport when it is ours

	sess  *session
	reg   registry
	wr    writer
	peers *peerSet
	dirty *dirtySet
	ready readiness

	running    atomic.Bool
	runStarted time.Time
	stopped    chan struct{} // closed when Run stops
	// abandon (tests): on stop, leave the session to expire as a killed
	// process would.
	abandon bool

	disagreements atomic.Int64
	stats         struct {
		sent, heartbeatSent, received atomic.Uint64
		streams                       atomic.Int64
	}
}

// New checks opts and returns a Replica; Run starts it.
func New(opts Options) (*Replica, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := &Replica{
		opts:    o,
		log:     o.Logger.With("component", "replicas", "replica", o.ID),
		keys:    newKeys(o.Deployment),
		checkID: checkID(o.Deployment, o.ID),
		epoch:   hex.EncodeToString(b[:]),
		started: o.now(),
		stopped: make(chan struct{}),
		dirty:   newDirtySet(),
	}
	r.ready.done = make(chan struct{})
	r.client = o.HTTPClient
	if r.client == nil {
		r.own = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: o.stall(),
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       30 * time.Second,
		}
		r.client = &http.Client{Transport: r.own}
	}
	r.sess = newSession(r)
	r.peers = newPeerSet(r)
	return r, nil
}

// ID is this replica's ID.
func (r *Replica) ID() string { return r.opts.ID }

// Run registers the replica and runs it until ctx ends; then it releases
// its session (the writer lock moves at once), stops every stream and
// returns nil. It returns ErrIDInUse at once if another live replica holds
// this ID. While Consul cannot be reached at start it keeps trying in the
// background and merges with nobody meanwhile.
func (r *Replica) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("replicas: Run called twice")
	}
	stop := sync.OnceFunc(func() { close(r.stopped) })
	defer stop()
	r.runStarted = r.opts.now()
	if err := r.sess.establish(ctx); err != nil {
		if errors.Is(err, ErrIDInUse) || ctx.Err() != nil {
			return err
		}
		r.log.Warn("cannot register this replica in Consul yet; retrying in the background", "error", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newMerger(r)
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){r.sess.run, r.watchRegistry, r.runWriter,
		func(ctx context.Context) { r.runMerge(ctx, m) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	<-ctx.Done()
	stop() // streams served to peers end now
	wg.Wait()
	r.peers.stopAll()
	if !r.abandon {
		r.sess.release()
	}
	if r.own != nil {
		r.own.CloseIdleConnections()
	}
	return nil
}
