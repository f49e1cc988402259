package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/sony/gobreaker"

	"github.com/vigilhq/vigil/membership"
)

// Publisher keeps the Consul catalog in step with the store. All catalog
// state is owned by the goroutine in Run; Healthy may be called from any
// goroutine.
type Publisher struct {
	store  *membership.Store
	client *consulapi.Client
	addr   string // for messages
	opts   Options
	log    *slog.Logger
	cb     *gobreaker.CircuitBreaker

	running atomic.Bool

	// Owned by Run.
	desired   map[string]*desired            // by service ID
	byCluster map[string]map[string]struct{} // cluster -> service IDs
	known     map[string]*known              // by service ID; what the catalog holds
	dirty     map[string]struct{}            // service IDs that may need a write
	rejected  map[string]*desired            // desires Consul refused; retried when they change or at resync
	synced    bool                           // known reflects the catalog since the last failure
	nodeOK    bool                           // the node is registered with vigil's meta
	outputDue time.Time                      // earliest deferred output-only write; zero: none

	// wake asks Run for a full reconcile: Consul answers again after an outage.
	wake chan struct{}

	healthMu    sync.Mutex
	syncOK      bool   // Run's last sync succeeded
	syncIs      string // Run's account of the catalog
	unreachable string // why the last health check failed; "" when it answered
}

// NewPublisher returns a publisher of store's membership into Consul. It
// does not contact Consul until Run.
func NewPublisher(store *membership.Store, opts Options) (*Publisher, error) {
	if store == nil {
		return nil, errors.New("consul: nil store")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("consul: invalid options: %w", err)
	}
	client := opts.Client
	if client == nil {
		var err error
		if client, err = NewClient(opts); err != nil {
			return nil, err
		}
	}
	addr := opts.Address
	if addr == "" {
		addr = consulapi.DefaultConfig().Address
	}
	p := &Publisher{
		store:     store,
		client:    client,
		addr:      addr,
		opts:      opts,
		log:       opts.Logger.With("component", "consul", "node", opts.Node, "deployment", opts.Deployment),
		desired:   make(map[string]*desired),
		byCluster: make(map[string]map[string]struct{}),
		known:     make(map[string]*known),
		dirty:     make(map[string]struct{}),
		rejected:  make(map[string]*desired),
		wake:      make(chan struct{}, 1),
		syncIs:    "consul: not yet synced",
	}
	p.cb = newBreaker(opts, p.log)
	opts.Metrics.ConsulBreakerState(breakerStateName(gobreaker.StateClosed))
	return p, nil
}

// NewClient returns a Consul API client for opts' address, token and
// datacenter, e.g. for upstreams.NewConsulSource.
func NewClient(opts Options) (*consulapi.Client, error) {
	cfg := consulapi.DefaultConfig()
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	if opts.Token != "" {
		cfg.Token = opts.Token
	}
	if opts.Datacenter != "" {
		cfg.Datacenter = opts.Datacenter
	}
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %q: %w", cfg.Address, err)
	}
	return client, nil
}

// Healthy reports whether Consul answers and the catalog is in step with
// the store, and why not. It names Consul as unavailable while its health
// check or writes fail, or the breaker is open.
func (p *Publisher) Healthy() (ok bool, detail string) {
	p.healthMu.Lock()
	defer p.healthMu.Unlock()
	return p.healthLocked()
}

func (p *Publisher) healthLocked() (bool, string) {
	if p.unreachable != "" {
		return false, p.unreachable
	}
	return p.syncOK, p.syncIs
}

// setHealth records the outcome of Run's last sync.
func (p *Publisher) setHealth(ok bool, detail string) {
	p.updateHealth(func() { p.syncOK, p.syncIs = ok, detail })
}

// updateHealth applies change and logs when Healthy's answer changes.
func (p *Publisher) updateHealth(change func()) {
	p.healthMu.Lock()
	wasOK, wasIs := p.healthLocked()
	change()
	ok, detail := p.healthLocked()
	p.healthMu.Unlock()
	if ok == wasOK && (ok || detail == wasIs) {
		return
	}
	if ok {
		p.log.Info("consul catalog in sync", "detail", detail)
	} else {
		p.log.Warn("consul catalog not in sync", "detail", detail)
	}
}

// Run publishes until ctx ends. It reconciles at start and every
// ResyncInterval, writes status changes within BatchWindow, and survives
// Consul outages: it never blocks the store, keeps what it has to write,
// and reconciles fully once Consul answers again. It returns nil when ctx
// ends. Registrations stay in the catalog when vigil stops, so that a
// restart does not flap them; the next start reconciles.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("consul: publisher already running")
	}
	defer p.running.Store(false)
	sub := p.store.Subscribe(1) // events are not needed: snapshots carry everything
	defer sub.Close()
	var watching sync.WaitGroup
	defer watching.Wait()
	ctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	watching.Go(func() { p.watchConsul(ctx) })
	if p.opts.HoldUntil != nil {
		p.setHealth(false, "consul: waiting for the first probe round before writing")
	hold:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sub.C():
				p.apply(sub.Next())
			case <-p.opts.HoldUntil:
				break hold
			}
		}
	}
	// The first reconcile must see the whole store, or it would deregister
	// what it has not been told about yet.
	p.apply(sub.Next())

	resync := time.NewTimer(0)
	defer resync.Stop()
	batch := stoppedTimer()
	defer batch.Stop()
	retry := stoppedTimer()
	defer retry.Stop()
	output := stoppedTimer()
	defer output.Stop()
	batchArmed, failures := false, 0

	for {
		full := false
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C():
			p.apply(sub.Next())
			if len(p.dirty) > 0 && !batchArmed {
				batch.Reset(p.opts.BatchWindow)
				batchArmed = true
			}
			continue
		case <-batch.C:
			batchArmed = false
		case <-retry.C:
		case <-p.wake:
			full = true // Consul is back, or this replica became the writer: the catalog may hold anything
		case <-output.C:
		case <-resync.C:
			full = true
			resync.Reset(p.opts.ResyncInterval)
		}
		if err := p.sync(ctx, full); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errNotWriter) {
				// Another replica writes. Forget what the catalog was
				// thought to hold: on gaining the lock, read it again.
				p.synced, failures = false, 0
				retry.Stop()
				p.setHealth(true, notWriterDetail)
				continue
			}
			failures++
			p.synced = false
			p.setHealth(false, describe(err))
			retry.Reset(retryDelay(p.opts, failures))
			continue
		}
		failures = 0
		retry.Stop()
		p.setHealth(true, fmt.Sprintf("consul: %d registrations in sync on node %s", len(p.known), p.opts.Node))
		output.Stop()
		if !p.outputDue.IsZero() {
			output.Reset(time.Until(p.outputDue))
		}
	}
}

// apply folds one store batch into the desired state.
func (p *Publisher) apply(b membership.Batch) {
	for _, name := range b.Removed {
		p.dropCluster(name)
	}
	for _, snap := range b.Changed {
		p.putCluster(snap)
	}
}

func (p *Publisher) putCluster(snap *membership.ClusterSnapshot) {
	if snap.Spec == nil || !publishable(snap.Spec) {
		p.dropCluster(snap.Name)
		return
	}
	old := p.byCluster[snap.Name]
	ids := make(map[string]struct{}, len(snap.Members))
	for i := range snap.Members {
		d := newDesired(snap, snap.Members[i])
		ids[d.id] = struct{}{}
		if cur, ok := p.desired[d.id]; ok && cur.equal(d) {
			continue
		}
		p.desired[d.id] = d
		p.dirty[d.id] = struct{}{}
	}
	for id := range old {
		if _, ok := ids[id]; !ok {
			delete(p.desired, id)
			p.dirty[id] = struct{}{}
		}
	}
	p.byCluster[snap.Name] = ids
}

func (p *Publisher) dropCluster(name string) {
	for id := range p.byCluster[name] {
		delete(p.desired, id)
		p.dirty[id] = struct{}{}
	}
	delete(p.byCluster, name)
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// retryDelay backs off from one batch window to at most 5s (or the resync
// interval, if shorter) after consecutive failures.
func retryDelay(o Options, failures int) time.Duration {
	limit := min(5*time.Second, o.ResyncInterval)
	d := o.BatchWindow
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
