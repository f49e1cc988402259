package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// errFleetClosed is returned by operations on a closed fleet.
var errFleetClosed = errors.New("fleet: closed")

// Fleet is a running set of simulated instances. Its methods are safe for
// concurrent use.
type Fleet struct {
	spec  Spec
	log   *slog.Logger
	insts []*instance
	byID  map[string]*instance
	dates dateCache      // the Date header of HTTP answers
	poll  *poller        // serves the HTTP connections (Linux)
	wg    sync.WaitGroup // accept loops, connection serving and grpc servers
	done  chan struct{}  // closed by Close

	mu        sync.Mutex // guards flips and rng
	flips     []Flip
	rng       *rand.Rand
	closeOnce sync.Once
}

// Start binds every instance's listener and starts serving. ctx bounds the
// start-up only; the fleet runs until Close. On error nothing is left open.
func Start(ctx context.Context, spec Spec) (*Fleet, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &Fleet{
		spec: spec,
		log:  spec.Logger,
		byID: make(map[string]*instance, spec.N),
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
	}
	if err := f.startConns(); err != nil {
		return nil, err
	}
	began := time.Now()
	f.insts = make([]*instance, 0, spec.N)
	for i := range spec.N {
		if err := f.startInstance(ctx, i); err != nil {
			_ = f.Close() // the start's error is the one to report
			return nil, err
		}
	}
	f.log.Info("fleet: started", "instances", spec.N, "formats", spec.Formats, "host", spec.Host,
		"port", spec.Port, "initial", spec.Initial, "took", time.Since(began))
	return f, nil
}

func (f *Fleet) startInstance(ctx context.Context, i int) error {
	addr, err := listenAddress(f.spec, i)
	if err != nil {
		return err
	}
	format := f.spec.Formats[i%len(f.spec.Formats)]
	in := &instance{f: f, index: i, ordinal: formatOrdinal(f.spec.Formats, i), id: instanceID(f.spec, i), format: format, addr: addr, conns: map[liveConn]struct{}{}}
	in.live, in.ready = format.Paths()
	if format == FormatDynamoFrontend {
		in.frontendReady = frontendReadyBody(in.id)
	}
	in.state.Store(f.spec.Initial)
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.up(ctx); err != nil { // dead instances bind once to fix their address
		return err
	}
	if f.spec.Initial == StateDead {
		in.down()
	}
	f.insts = append(f.insts, in)
	f.byID[in.id] = in
	return nil
}

// Instances returns every instance with its current state, in index order.
func (f *Fleet) Instances() []Instance {
	out := make([]Instance, len(f.insts))
	for i, in := range f.insts {
		out[i] = in.snapshot()
	}
	return out
}

// Lookup returns one instance by ID.
func (f *Fleet) Lookup(id string) (Instance, bool) {
	in, ok := f.byID[id]
	if !ok {
		return Instance{}, false
	}
	return in.snapshot(), true
}

// Set flips instance id to state s now and records the flip. The returned
// time was taken just before the change became observable. Setting the
// state an instance already has records nothing and returns the zero time.
func (f *Fleet) Set(id string, s State) (time.Time, error) {
	fl, _, err := f.set(id, s)
	return fl.Time, err
}

// set does Set and returns the flip, and whether there was one.
func (f *Fleet) set(id string, s State) (Flip, bool, error) {
	if _, err := ParseState(string(s)); err != nil {
		return Flip{}, false, err
	}
	in, ok := f.byID[id]
	if !ok {
		return Flip{}, false, fmt.Errorf("fleet: unknown instance %q", id)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return Flip{}, false, errFleetClosed
	}
	from := in.getState()
	if from == s {
		return Flip{}, false, nil
	}
	fl := Flip{ID: id, From: from, To: s, Time: time.Now()}
	switch {
	case s == StateDead:
		in.state.Store(s)
		in.down()
	case from == StateDead:
		in.state.Store(s)
		if err := in.up(context.Background()); err != nil {
			in.state.Store(StateDead)
			return Flip{}, false, fmt.Errorf("fleet: bring %s back: %w", id, err)
		}
	default:
		in.state.Store(s)
		if in.hs != nil {
			in.hs.SetServingStatus("", servingStatus(s))
		}
	}
	f.mu.Lock()
	f.flips = append(f.flips, fl)
	f.mu.Unlock()
	f.log.Debug("fleet: flip", "id", id, "address", in.addr, "from", from, "to", s)
	return fl, true, nil
}

// Flips returns every recorded flip, oldest first.
func (f *Fleet) Flips() []Flip {
	f.mu.Lock()
	out := slices.Clone(f.flips)
	f.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Flip) int { return a.Time.Compare(b.Time) })
	return out
}

// Close stops every instance, closes all connections and waits for the
// serving goroutines to end. It is idempotent.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		for _, in := range f.insts {
			in.mu.Lock()
			in.closed = true
			in.down()
			in.mu.Unlock()
		}
		f.stopConns()
		f.wg.Wait()
		f.log.Info("fleet: closed", "instances", len(f.insts))
	})
	return nil
}

// randomIDs picks up to k distinct instances not already in state s.
func (f *Fleet) randomIDs(k int, s State, rng *rand.Rand) []string {
	var cand []string
	for _, in := range f.insts {
		if in.getState() != s {
			cand = append(cand, in.id)
		}
	}
	rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	return cand[:min(k, len(cand))]
}

// compareIndex orders IDs by instance index.
func (f *Fleet) compareIndex(a, b string) int {
	return cmp.Compare(f.byID[a].index, f.byID[b].index)
}

// formatOrdinal is how many instances before instance i have its format
// when formats are assigned round-robin.
func formatOrdinal(formats []Format, i int) int {
	format := formats[i%len(formats)]
	perRound, before := 0, 0
	for k, g := range formats {
		if g == format {
			perRound++
			if k < i%len(formats) {
				before++
			}
		}
	}
	return i/len(formats)*perRound + before
}
