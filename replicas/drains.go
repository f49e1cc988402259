package replicas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
)

// maxTxnOps is Consul's limit of operations in one transaction.
const maxTxnOps = 64

// DrainsOptions configure Drains.
type DrainsOptions struct {
	Consul     *consulapi.Client // required
	Deployment string            // default "vigil"
	// Cache is the local bbolt store: every write is mirrored into it, the
	// watch keeps it equal to Consul, and it answers reads while Consul
	// cannot. Required.
	Cache *overrides.Store
	// Timeout bounds one Consul call (5 s).
	Timeout time.Duration
	Logger  *slog.Logger
	now     func() time.Time
}

// Drains are the manual drains shared by every replica: one KV key per
// drained instance, vigil/<deployment>/drains/<cluster>/<instance>, whose
// value is the membership.Override as JSON. Its methods have the shape of
// overrides.Store's. A write goes to Consul first and fails if Consul
// does not take it (a drain only one replica knew of would be lost when
// Consul's set is applied again), then to the cache.
type Drains struct {
	opts DrainsOptions
	keys keys
	kv   *consulapi.KV
	log  *slog.Logger
}

// NewDrains returns Drains over opts.
func NewDrains(opts DrainsOptions) (*Drains, error) {
	if opts.Consul == nil || opts.Cache == nil {
		return nil, errors.New("replicas drains: a Consul client and a cache store are required")
	}
	if opts.Deployment == "" {
		opts.Deployment = DefaultDeployment
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	return &Drains{opts: opts, keys: newKeys(opts.Deployment), kv: opts.Consul.KV(),
		log: opts.Logger.With("component", "replicas", "part", "drains")}, nil
}

func (d *Drains) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.opts.Timeout)
}

// Put records (or replaces) the drain of one instance.
func (d *Drains) Put(cluster, instance string, o membership.Override) error {
	return d.PutMany(cluster, []string{instance}, o)
}

// PutMany records the same drain for several instances of one cluster, in
// transactions of at most 64 keys.
func (d *Drains) PutMany(cluster string, instances []string, o membership.Override) error {
	if cluster == "" {
		return errors.New("put drain: empty cluster name")
	}
	val, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("put drain: encode: %w", err)
	}
	var ops consulapi.KVTxnOps
	for _, id := range instances {
		if id == "" {
			return fmt.Errorf("put drain in cluster %q: empty instance id", cluster)
		}
		ops = append(ops, &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: d.keys.drain(cluster, id), Value: val})
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if err := d.txn(ops[:n]); err != nil {
			return fmt.Errorf("put drain in cluster %q in Consul: %w", cluster, err)
		}
		ops = ops[n:]
	}
	if err := d.opts.Cache.PutMany(cluster, instances, o); err != nil {
		return fmt.Errorf("put drain (stored in Consul): cache: %w", err)
	}
	return nil
}

func (d *Drains) txn(ops consulapi.KVTxnOps) error {
	ctx, cancel := d.call()
	defer cancel()
	ok, resp, _, err := d.kv.Txn(ops, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		var errs []error
		for _, e := range resp.Errors {
			errs = append(errs, fmt.Errorf("op %d: %s", e.OpIndex, e.What))
		}
		return fmt.Errorf("transaction rolled back: %w", errors.Join(errs...))
	}
	return nil
}

// Delete removes the drain of one instance; removing none is not an error.
func (d *Drains) Delete(cluster, instance string) error {
	ctx, cancel := d.call()
	defer cancel()
	if _, err := d.kv.Delete(d.keys.drain(cluster, instance), (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("delete drain %s/%s in Consul: %w", cluster, instance, err)
	}
	if err := d.opts.Cache.Delete(cluster, instance); err != nil {
		return fmt.Errorf("delete drain (done in Consul): cache: %w", err)
	}
	return nil
}

// DeleteCluster removes the drains of every instance of a cluster.
func (d *Drains) DeleteCluster(cluster string) error {
	ctx, cancel := d.call()
	defer cancel()
	if _, err := d.kv.DeleteTree(d.keys.drainCluster(cluster), (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("delete drains of cluster %q in Consul: %w", cluster, err)
	}
	if err := d.opts.Cache.DeleteCluster(cluster); err != nil {
		return fmt.Errorf("delete drains (done in Consul): cache: %w", err)
	}
	return nil
}

// Get returns the drain of one instance if one is held and unexpired; the
// cache answers while Consul cannot.
func (d *Drains) Get(cluster, instance string) (membership.Override, bool, error) {
	ctx, cancel := d.call()
	defer cancel()
	pair, _, err := d.kv.Get(d.keys.drain(cluster, instance), (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		d.log.Warn("cannot read a drain from Consul; answering from the local cache", "cluster", cluster, "instance", instance, "error", err)
		return d.opts.Cache.Get(cluster, instance)
	}
	if pair == nil {
		return membership.Override{}, false, nil
	}
	var o membership.Override
	if err := json.Unmarshal(pair.Value, &o); err != nil {
		return membership.Override{}, false, fmt.Errorf("drain %s: %w", pair.Key, err)
	}
	return o, o.Active(d.opts.now()), nil
}

// List returns every unexpired drain, sorted by cluster then instance;
// the cache answers while Consul cannot.
func (d *Drains) List() ([]overrides.Entry, error) {
	ctx, cancel := d.call()
	defer cancel()
	pairs, _, err := d.kv.List(d.keys.drains(), (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		d.log.Warn("cannot list drains in Consul; answering from the local cache", "error", err)
		return d.opts.Cache.List()
	}
	return d.decode(pairs), nil
}

// decode reads KV pairs into entries, skipping (and logging) what cannot
// be read and leaving out the expired.
func (d *Drains) decode(pairs consulapi.KVPairs) []overrides.Entry {
	now := d.opts.now()
	out := make([]overrides.Entry, 0, len(pairs))
	for _, p := range pairs {
		cluster, instance, err := d.keys.parseDrain(p.Key)
		var o membership.Override
		if err == nil {
			err = json.Unmarshal(p.Value, &o)
		}
		if err != nil {
			d.log.Warn("ignoring a malformed drain in Consul", "key", p.Key, "error", err)
			continue
		}
		if o.Active(now) {
			out = append(out, overrides.Entry{Cluster: cluster, Instance: instance, Override: o})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Instance < out[j].Instance
	})
	return out
}

// Watch follows the drains in Consul with blocking queries until ctx ends
// and calls onChange with the whole set (unexpired, sorted) whenever it
// changes, after making the cache equal to it. If Consul cannot be read at
// first, onChange gets the cache's set once, so a replica starting while
// Consul is down still holds the drains it last knew. Calls are serial.
func (d *Drains) Watch(ctx context.Context, onChange func([]overrides.Entry)) error {
	var (
		last    []overrides.Entry
		called  bool
		restore bool // Consul's index went backwards: put the cached drains it lost back
	)
	w := prefixWatch{kv: d.kv, prefix: d.keys.drains(), log: d.log, what: "drains",
		reset: func() { restore = true },
		failed: func(error) {
			if called {
				return
			}
			cached, err := d.opts.Cache.List()
			if err != nil {
				d.log.Error("cannot read the local drain cache either", "error", err)
				return
			}
			called, last = true, cached
			onChange(cached)
		}}
	w.run(ctx, func(pairs consulapi.KVPairs) {
		if restore {
			// The cache holds the set Consul last answered; drains in it
			// but not in Consul now were lost with Consul's state (an undrain
			// would have left the cache too).
			n, err := d.restore(pairs)
			if err != nil {
				d.log.Error("cannot put the drains Consul lost back; keeping them and retrying", "error", err)
				return
			}
			restore = false
			if n > 0 {
				return // the next answer holds them
			}
		}
		set := d.decode(pairs)
		d.dropExpired(pairs)
		if err := d.syncCache(set); err != nil {
			d.log.Warn("cannot update the local drain cache", "error", err)
		}
		if !called || !sameEntries(last, set) {
			called, last = true, set
			onChange(set)
		}
	})
	return nil
}

// dropExpired deletes expired drains from Consul, each only if unchanged
// since read (check-and-set), so a drain put again meanwhile stays. Any
// replica may do it; the others' deletes then fail harmlessly.
func (d *Drains) dropExpired(pairs consulapi.KVPairs) {
	now := d.opts.now()
	for _, p := range pairs {
		var o membership.Override
		if json.Unmarshal(p.Value, &o) != nil || o.Active(now) {
			continue
		}
		ctx, cancel := d.call()
		if _, _, err := d.kv.DeleteCAS(p, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
			d.log.Debug("drop an expired drain", "key", p.Key, "error", err)
		}
		cancel()
	}
}

// syncCache makes the cache hold exactly set.
func (d *Drains) syncCache(set []overrides.Entry) error {
	cached, err := d.opts.Cache.List()
	if err != nil {
		return err
	}
	want := make(map[memberKey]membership.Override, len(set))
	for _, e := range set {
		want[memberKey{e.Cluster, e.Instance}] = e.Override
	}
	var errs []error
	for _, e := range cached {
		k := memberKey{e.Cluster, e.Instance}
		if o, ok := want[k]; ok && o.Equal(e.Override) {
			delete(want, k)
			continue
		}
		if _, ok := want[k]; !ok {
			errs = append(errs, d.opts.Cache.Delete(e.Cluster, e.Instance))
		}
	}
	for k, o := range want {
		errs = append(errs, d.opts.Cache.Put(k.cluster, k.id, o))
	}
	return errors.Join(errs...)
}

func sameEntries(a, b []overrides.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Cluster != b[i].Cluster || a[i].Instance != b[i].Instance || !a[i].Override.Equal(b[i].Override) {
			return false
		}
	}
	return true
}

// restore writes back every cached drain missing from pairs, each only if
// its key is still absent (check-and-set at index 0), so a drain written
// meanwhile by another replica stays. It returns how many it wrote.
func (d *Drains) restore(pairs consulapi.KVPairs) (int, error) {
	cached, err := d.opts.Cache.List()
	if err != nil {
		return 0, fmt.Errorf("read the cache: %w", err)
	}
	have := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		have[p.Key] = true
	}
	n := 0
	for _, e := range cached {
		key := d.keys.drain(e.Cluster, e.Instance)
		if have[key] {
			continue
		}
		val, err := json.Marshal(e.Override)
		if err != nil {
			return n, fmt.Errorf("encode the drain of %s/%s: %w", e.Cluster, e.Instance, err)
		}
		ctx, cancel := d.call()
		ok, _, err := d.kv.CAS(&consulapi.KVPair{Key: key, Value: val}, (&consulapi.WriteOptions{}).WithContext(ctx))
		cancel()
		if err != nil {
			return n, fmt.Errorf("put the drain of %s/%s back: %w", e.Cluster, e.Instance, err)
		}
		if ok {
			n++
		}
	}
	if n > 0 {
		d.log.Warn("Consul lost its state (its index went backwards): put the drains it lost back", "drains", n)
	}
	return n, nil
}
