package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	healthy   = "HEALTHY"
	unhealthy = "UNHEALTHY"
	draining  = "DRAINING"
	edsType   = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// view is what one consumer sees, instance by instance: an EDS client's
// health statuses, or the Consul catalog's passing instances (HEALTHY;
// absent when not passing). It keeps its last state while its source is
// away, as Envoy keeps its last assignment. Guarded instances must stay
// show what guard asked for; every update that shows one otherwise is a
// violation.
type view struct {
	name       string
	catalog    bool // the Consul catalog: only HEALTHY (passing) or "" (not)
	mu         sync.Mutex
	cur        map[string]string
	seen       bool
	history    map[string][]change // per instance, oldest first
	guarded    map[string]string
	violations []string
}

type change struct {
	at     time.Time
	status string
}

func newView(name string) *view {
	return &view{name: name, history: map[string][]change{}, guarded: map[string]string{}}
}

func (v *view) update(next map[string]string) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for addr, want := range v.guarded {
		if next[addr] != want {
			v.violations = append(v.violations, fmt.Sprintf("%s: %s showed %s as %q at %s", v.name, addr, addr, next[addr], now.Format("15:04:05.000")))
		}
	}
	keys := map[string]bool{}
	for a := range next {
		keys[a] = true
	}
	for a := range v.cur {
		keys[a] = true
	}
	for a := range keys {
		if next[a] != v.cur[a] || !v.seen {
			v.history[a] = append(v.history[a], change{now, next[a]})
		}
	}
	v.cur, v.seen = next, true
}

// guard makes every update check the instances of want (for the catalog:
// passing, or not); nil: no check.
func (v *view) guard(want map[string]string) {
	if v.catalog {
		want = catalogWant(want)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.guarded = want
}

func (v *view) takeViolations() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.violations
	v.violations = nil
	return out
}

// is reports how the view differs from want (instances -> status; an
// instance absent from want must be absent or, for the catalog, not
// passing).
func (v *view) is(want map[string]string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.seen {
		return fmt.Errorf("%s: nothing received yet", v.name)
	}
	var diffs []string
	for a, st := range want {
		if v.cur[a] != st {
			diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", a, v.cur[a], st))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return fmt.Errorf("%s: %d differ: %s", v.name, len(diffs), strings.Join(diffs[:min(3, len(diffs))], "; "))
	}
	return nil
}

// reached is when addr first turned st (for the catalog: passing or not)
// at or after since; zero if not.
func (v *view) reached(addr, st string, since time.Time) time.Time {
	if v.catalog && st != healthy {
		st = ""
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.history[addr] {
		if c.status == st && !c.at.Before(since) {
			return c.at
		}
	}
	return time.Time{}
}

// watchEDS follows the EDS of cluster web on a replica's xDS address with
// a state-of-the-world ADS stream, reconnecting whenever it breaks.
func watchEDS(t *testing.T, name, addr string) *view {
	v := newView(name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := followEDS(ctx, addr, v); err != nil && ctx.Err() == nil {
				// Redial at once, as an eager client would: a restarted
				// replica is seen from its first answer.
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

func followEDS(ctx context.Context, addr string, v *view) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close() //nolint:errcheck // test cleanup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return err
	}
	node := &corev3.Node{Id: "e2e-" + v.name, Cluster: "e2e"}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: edsType, ResourceNames: []string{"web"}}
	if err := stream.Send(req); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		next := map[string]string{}
		for _, res := range resp.Resources {
			var cla endpointv3.ClusterLoadAssignment
			if err := res.UnmarshalTo(&cla); err != nil {
				return err
			}
			for _, loc := range cla.Endpoints {
				for _, lb := range loc.LbEndpoints {
					sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
					a := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
					next[a] = lb.HealthStatus.String()
				}
			}
		}
		v.update(next)
		ack := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: edsType, ResourceNames: []string{"web"},
			VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}
		if err := stream.Send(ack); err != nil {
			return err
		}
	}
}

// watchCatalog follows GET /v1/health/service/web?passing with blocking
// queries; a passing instance shows HEALTHY.
func watchCatalog(t *testing.T, consulAddr string) *view {
	v := newView("consul")
	v.catalog = true
	cfg := consulapi.DefaultConfig()
	cfg.Address = consulAddr
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var index uint64
		for ctx.Err() == nil {
			q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
			entries, meta, err := client.Health().Service("web", "", true, q)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if meta.LastIndex < index {
				index = 0 // Consul's state was reset
				continue
			}
			index = meta.LastIndex
			next := map[string]string{}
			for _, e := range entries {
				next[net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port))] = healthy
			}
			v.update(next)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

// statuses maps every address to st, and overrides with the pairs of more
// (address, status, address, status ...).
func statuses(addrs []string, st string, more ...string) map[string]string {
	m := make(map[string]string, len(addrs))
	for _, a := range addrs {
		m[a] = st
	}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

// catalogWant is the catalog's picture of want: only HEALTHY instances pass.
func catalogWant(want map[string]string) map[string]string {
	out := map[string]string{}
	for a, st := range want {
		if st == healthy {
			out[a] = healthy
		} else {
			out[a] = ""
		}
	}
	return out
}

// agree waits until every view shows want (the catalog: its healthy
// instances passing, the others not).
func agree(t *testing.T, within time.Duration, what string, want map[string]string, eds []*view, catalog *view) time.Duration {
	t.Helper()
	return eventually(t, within, what, func() error {
		for _, v := range eds {
			if err := v.is(want); err != nil {
				return err
			}
		}
		if catalog != nil {
			return catalog.is(catalogWant(want))
		}
		return nil
	})
}

// noViolations fails the test with what the guarded views showed.
func noViolations(t *testing.T, views ...*view) {
	t.Helper()
	for _, v := range views {
		if vs := v.takeViolations(); len(vs) > 0 {
			t.Errorf("%d violations, first: %s", len(vs), strings.Join(vs[:min(5, len(vs))], "\n  "))
		}
	}
}
