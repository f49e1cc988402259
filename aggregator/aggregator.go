package aggregator

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigilhq/vigil/upstreams"
)

// Options configure an Aggregator.
type Options struct {
	Store          *Store       // where membership is published (required)
	Clock          Clock        // nil: the real clock
	MaxConcurrency int          // probes in flight at once (default 1024)
	Logger         *slog.Logger // nil: slog.Default()
	Observer       Observer     // nil: no metrics
}

// Aggregator schedules probes of every instance, runs their state machines
// and publishes each instance's status into the Store.
//
// API used by the binary and publishers:
//   - Apply(clusters) sets what to probe (first load and every reload);
//     unchanged instances keep their state and schedule.
//   - Run(ctx) probes until ctx ends, then closes every connection.
//   - FirstRound() is closed once every instance known at the first Apply
//     has a result from each of its probes.
//   - Instance(cluster, id) returns probe details for the dashboard.
//   - SetOverride(cluster, id, o) holds an instance DRAINING (nil clears).
type Aggregator struct {
	opts Options
}

// ErrNotFound is returned for an unknown cluster or instance.
var ErrNotFound = errors.New("not found")

// New returns an Aggregator. Call Apply, then Run.
func New(opts Options) *Aggregator {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 1024
	}
	return &Aggregator{opts: opts}
}

// Apply sets the desired clusters.
func (a *Aggregator) Apply(clusters []upstreams.Cluster) error { return errors.New("TODO") }

// Run probes until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// FirstRound is closed after the first probe round.
func (a *Aggregator) FirstRound() <-chan struct{} { return make(chan struct{}) }

// Instance returns the details of one instance.
func (a *Aggregator) Instance(cluster, id string) (InstanceDetail, error) {
	return InstanceDetail{}, ErrNotFound
}

// SetOverride sets (o != nil) or clears (o == nil) a manual drain. It
// records an override event and republishes the instance's status.
func (a *Aggregator) SetOverride(cluster, id string, o *Override) error { return ErrNotFound }
