package consul_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// slack is how much longer than the contract a loaded machine may take.
const slack = 5 * time.Second

// fixture is a store with one cluster, published into Consul.
type fixture struct {
	t       *testing.T
	store   *membership.Store
	spec    *upstreams.Cluster
	pub     *consul.Publisher
	metrics *recMetrics
	opts    consul.Options
	client  *consulapi.Client
}

// instance is a member at 127.0.0.1:port with the given status.
func instance(port int, st membership.Status) membership.Member {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return membership.Member{
		Instance: upstreams.Instance{ID: addr, Address: addr, Source: "config"},
		Status:   st,
		Since:    time.Now(),
	}
}

func newFixture(t *testing.T, httpAddr string, spec *upstreams.Cluster, members []membership.Member, opts consul.Options) *fixture {
	t.Helper()
	store := membership.NewStore(100)
	store.PutCluster(spec, members, nil)
	m := &recMetrics{writes: map[string]int{}}
	opts.Address = httpAddr
	opts.Metrics = m
	pub, err := consul.NewPublisher(store, opts)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	cfg := consulapi.DefaultConfig()
	cfg.Address = httpAddr
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, spec: spec, pub: pub, metrics: m, opts: opts, client: client}
	t.Cleanup(func() {
		// Registrations outlive the publisher by design; leave the shared
		// agent clean for the next test (runs after the publisher stopped).
		node := opts.Node
		if node == "" {
			node = "vigil-" + opts.Deployment
		}
		if _, err := client.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: node}, nil); err != nil {
			t.Logf("cleanup: deregister node %s: %v", node, err)
		}
	})
	runUntilCleanup(t, "Publisher.Run", 30*time.Second, pub.Run)
	return f
}

// runUntilCleanup runs run in the background until the test ends, then
// cancels it and fails the test if it errs or takes longer than within to
// return.
func runUntilCleanup(t *testing.T, what string, within time.Duration, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(within):
			t.Errorf("%s did not return after cancel", what)
		}
	})
}

// set changes one member's status through the store, as the aggregator does.
func (f *fixture) set(port int, st membership.Status, reason string) {
	f.t.Helper()
	id := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ok := f.store.UpdateMember(f.spec.Name, id, func(m *membership.Member) (*membership.Event, bool) {
		m.Status, m.Reason, m.Since = st, reason, time.Now()
		return nil, true
	})
	if !ok {
		f.t.Fatalf("UpdateMember %s: not found", id)
	}
}

// passingPorts is what GET /v1/health/service/<name>?passing lists.
func passingPorts(c *consulapi.Client, service string) portList {
	entries, _, err := c.Health().Service(service, "", true, nil)
	if err != nil {
		return portList{err: err}
	}
	var ports []int
	for _, e := range entries {
		ports = append(ports, e.Service.Port)
	}
	return portList{ports: ports}
}

// allPorts lists every instance of a service, whatever its health.
func allPorts(c *consulapi.Client, service string) portList {
	entries, _, err := c.Catalog().Service(service, "", nil)
	if err != nil {
		return portList{err: err}
	}
	var ports []int
	for _, e := range entries {
		ports = append(ports, e.ServicePort)
	}
	return portList{ports: ports}
}

// srvPorts asks the agent's DNS server for <service>.service.consul SRV.
func srvPorts(r *net.Resolver, service string) portList {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, srvs, err := r.LookupSRV(ctx, "", "", service+".service.consul")
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return portList{}
	}
	if err != nil {
		return portList{err: err}
	}
	var ports []int
	for _, s := range srvs {
		ports = append(ports, int(s.Port))
	}
	return portList{ports: ports}
}

// vigilCheck returns the vigil check of one instance.
func vigilCheck(c *consulapi.Client, node, cluster string, port int) (*consulapi.HealthCheck, error) {
	checks, _, err := c.Health().Node(node, nil)
	if err != nil {
		return nil, err
	}
	want := consul.CheckID(consul.ServiceID(cluster, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))))
	for _, ch := range checks {
		if ch.CheckID == want {
			return ch, nil
		}
	}
	return nil, fmt.Errorf("check %s not on node %s", want, node)
}

// portList is the ports a query returned, or its error.
type portList struct {
	ports []int
	err   error
}

// are reports how the list differs from want (any order).
func (l portList) are(want ...int) error {
	if l.err != nil {
		return l.err
	}
	got := slices.Sorted(slices.Values(l.ports))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("got ports %v, want %v", got, want)
	}
	return nil
}

// recMetrics records the publisher's metrics.
type recMetrics struct {
	mu     sync.Mutex
	writes map[string]int
	states []string
}

func (m *recMetrics) ConsulWrite(result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes[result]++
}

func (m *recMetrics) ConsulBreakerState(state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states = append(m.states, state)
}

func (m *recMetrics) count(result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes[result]
}

func (m *recMetrics) breakerStates() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.states)
}

// ownAgent starts an agent for one test, which may kill it; it is killed
// when the test ends.
func ownAgent(t *testing.T) *consultest.Agent {
	t.Helper()
	requireAgent(t)
	a, err := consultest.Start(shared.Bin())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Kill)
	return a
}
