package replicas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Timings of the tests: short, but with room for a busy machine.
const (
	testTTL       = 3 * time.Second
	testHeartbeat = 500 * time.Millisecond
)

var (
	healthy  = membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhasePassing}
	notReady = membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhaseFailing}
	draining = membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhaseDraining}
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// consulClient is a client of agent a whose idle connections the caller
// closes through the returned transport.
func consulClient(t testing.TB, a *consultest.Agent) (*consulapi.Client, *http.Transport) {
	t.Helper()
	c, tr, _ := gatedClient(t, a)
	return c, tr
}

// gatedClient is consulClient with a gate that can cut it off from Consul.
func gatedClient(t testing.TB, a *consultest.Agent) (*consulapi.Client, *http.Transport, *gate) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	g := &gate{next: tr}
	cfg := consulapi.DefaultConfig()
	cfg.Address = a.HTTPAddr
	cfg.HttpClient = &http.Client{Transport: g}
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatalf("consul client: %v", err)
	}
	return c, tr, g
}

// gate cuts a client off from Consul as a dead link would: while closed,
// a request hangs until it is cancelled or the gate opens.
type gate struct {
	next http.RoundTripper
	mu   sync.Mutex
	shut chan struct{} // closed when the gate opens; nil while open
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	shut := g.shut
	g.mu.Unlock()
	if shut != nil {
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-shut:
		}
	}
	return g.next.RoundTrip(req)
}

func (g *gate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
}

// node is one in-process replica: a local store the test drives as an
// aggregator would, a merged store, its stream served on a real listener.
type node struct {
	t       testing.TB
	id      string
	local   *membership.Store
	merged  *membership.Store
	rep     *Replica
	srv     *http.Server
	tr      *http.Transport
	consul  *gate
	cancel  context.CancelFunc
	done    chan error
	writer  atomic.Bool // last OnWriterChange
	gains   atomic.Int32
	losses  atomic.Int32
	stall   atomic.Bool // the stream handler stops writing
	stopped bool
}

// fleet is a cluster of n instances, all healthy.
func fleet(name string, n int) (*upstreams.Cluster, []membership.Member) {
	spec := &upstreams.Cluster{Name: name, InitialStatus: upstreams.InitialUnhealthy,
		Liveness: &upstreams.Probe{}, Readiness: &upstreams.Probe{}}
	ms := make([]membership.Member, n)
	for i := range ms {
		id := fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250)
		spec.Instances = append(spec.Instances, upstreams.Instance{ID: id, Address: id})
		ms[i] = membership.Member{Instance: spec.Instances[i], Verdict: healthy, Status: membership.StatusHealthy,
			Reason: "readiness: 200 ok (2 in a row)", Since: time.Unix(1_700_000_000, 0)}
	}
	return spec, ms
}

func inst(i int) string { return fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250) }

// startNode starts a replica against agent a; clusters are put into its
// local store (each replica runs the same config) before it starts.
func startNode(t testing.TB, a *consultest.Agent, id string, clusters map[string]int, tweak func(*Options)) *node {
	t.Helper()
	n := &node{t: t, id: id, local: membership.NewStore(1000), merged: membership.NewStore(1000), done: make(chan error, 1)}
	for name, size := range clusters {
		spec, ms := fleet(name, size)
		n.local.PutCluster(spec, ms, nil)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, tr, g := gatedClient(t, a)
	n.tr, n.consul = tr, g
	opts := Options{ID: id, Advertise: ln.Addr().String(), Deployment: "test", SessionTTL: testTTL,
		Heartbeat: testHeartbeat, Consul: c, Local: n.local, Merged: n.merged, Logger: testLogger(t),
		OnWriterChange: func(w bool) {
			n.writer.Store(w)
			if w {
				n.gains.Add(1)
			} else {
				n.losses.Add(1)
			}
		}}
	if tweak != nil {
		tweak(&opts)
	}
	n.rep, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h := n.rep.Handler()
	mux.Handle(n.rep.opts.StreamPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&stallWriter{ResponseWriter: w, n: n, ctx: r.Context()}, r)
	}))
	n.srv = &http.Server{Handler: mux}
	go n.srv.Serve(ln) //nolint:errcheck // ErrServerClosed at stop; a failed serve shows as the replica unreachable
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.rep.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

// stallWriter lets a test freeze a replica's stream: while the node's
// stall flag is set, writes block until the request ends.
type stallWriter struct {
	http.ResponseWriter
	n   *node
	ctx context.Context
}

func (w *stallWriter) Write(b []byte) (int, error) {
	if w.n.stall.Load() {
		<-w.ctx.Done()
		return 0, w.ctx.Err()
	}
	return w.ResponseWriter.Write(b)
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stop stops the replica cleanly (its session is released).
func (n *node) stop() { n.halt(false) }

// crash stops it as a killed process would: its session is left to expire.
func (n *node) crash() { n.halt(true) }

func (n *node) halt(abandon bool) {
	if n.stopped {
		return
	}
	n.stopped = true
	n.rep.abandon = abandon
	n.cancel()
	n.consul.open()
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("replica %s: Run: %v", n.id, err)
		}
	case <-time.After(15 * time.Second):
		n.t.Errorf("replica %s: Run did not return within 15s of its context ending", n.id)
	}
	_ = n.srv.Close() // test cleanup
	n.tr.CloseIdleConnections()
}

// set writes one member's verdict into the local store as the aggregator
// would: the status follows membership.Decide, the reason names it.
func (n *node) set(cluster, id string, v membership.Verdict, reason string) {
	c, _ := n.local.Cluster(cluster)
	ok := n.local.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		if m.Verdict == v {
			return nil, false
		}
		st := membership.Decide(v, c.Spec.InitialStatus, m.Override.Active(time.Now()))
		ev := &membership.Event{Time: time.Now(), Kind: membership.EventTransition, Cluster: cluster, Instance: id,
			Address: m.Address, From: m.Status, To: st, Reason: reason}
		m.Verdict, m.Reason = v, reason
		if st != m.Status {
			m.Status, m.Since = st, time.Now()
		}
		return ev, true
	})
	if !ok {
		n.t.Fatalf("%s: set %s/%s: no such member or no change", n.id, cluster, id)
	}
}

func (n *node) status(cluster, id string) membership.Status {
	c, ok := n.merged.Cluster(cluster)
	if !ok {
		return membership.StatusUnknown
	}
	m, ok := c.Member(id)
	if !ok {
		return membership.StatusUnknown
	}
	return m.Status
}

// allStatus waits until every node publishes want for the instance.
func allStatus(t testing.TB, d time.Duration, nodes []*node, cluster, id string, want membership.Status) time.Duration {
	t.Helper()
	return runtest.Eventually(t, d, fmt.Sprintf("%s/%s %s on every replica", cluster, id, want), func() error {
		var bad []string
		for _, n := range nodes {
			if got := n.status(cluster, id); got != want {
				bad = append(bad, fmt.Sprintf("%s: %s", n.id, got))
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, ", "))
		}
		return nil
	})
}

// meshed waits until every node is ready and counts every other as voting.
func meshed(t testing.TB, d time.Duration, nodes []*node) {
	t.Helper()
	runtest.Eventually(t, d, "replicas meshed", func() error {
		for _, n := range nodes {
			if ok, why := n.rep.Ready(); !ok {
				return fmt.Errorf("%s not ready: %s", n.id, why)
			}
			voting := 0
			for _, info := range n.rep.Replicas() {
				if info.Voting && !info.Self {
					voting++
				}
			}
			if voting != len(nodes)-1 {
				return fmt.Errorf("%s: %d voting peers, want %d: %+v", n.id, voting, len(nodes)-1, n.rep.Replicas())
			}
		}
		return nil
	})
}

// writers returns the nodes that say they are the writer.
func writers(nodes []*node) []*node {
	var out []*node
	for _, n := range nodes {
		if !n.stopped && n.rep.IsWriter() {
			out = append(out, n)
		}
	}
	return out
}

// noLeaks waits until the goroutine count is back to base.
func noLeaks(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, %d before:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
