package upstreams

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/consulwait"
)

// ConsulOwnerMeta is the node and service meta key vigil's own Consul
// registrations carry (its value names the owning vigil deployment).
// Entries carrying it are never discovered as targets.
const ConsulOwnerMeta = "vigil-deployment"

// Defaults of ConsulSource.
const (
	// DefaultConsulWaitTime is the blocking query wait. Consul adds up to
	// wait/16 of jitter, so 25s keeps every request under 27s: below the
	// 30s idle timeouts common in proxies and NAT tables in front of
	// Consul, which would otherwise cut idle blocking queries.
	DefaultConsulWaitTime = 25 * time.Second
	// DefaultConsulMinInterval spaces two queries of one service, so a
	// service that churns cannot make vigil hammer Consul or rebuild
	// clusters faster than this.
	DefaultConsulMinInterval = time.Second
	// DefaultConsulMaxBackoff caps the wait after consecutive errors.
	DefaultConsulMaxBackoff = 30 * time.Second
)

// ConsulSource takes instances of the clusters that have Discovery set from
// the Consul catalog, with one blocking query on /v1/health/service per
// cluster. The health endpoint is used without ?passing: vigil probes every
// registered instance and decides their health itself.
type ConsulSource struct {
	client   *consulapi.Client
	clusters []Cluster
	onChange func(cluster string, instances []Instance)
	mu       sync.Mutex // serialises onChange

	// Tunables; set before Run. Zero values take the defaults.
	WaitTime    time.Duration
	MinInterval time.Duration
	MaxBackoff  time.Duration
	Logger      *slog.Logger
}

// NewConsulSource watches the clusters among clusters whose Discovery is
// set. onChange receives a cluster's full instance list (sorted by ID) after
// the first answer and whenever it changes; calls are never concurrent.
func NewConsulSource(client *consulapi.Client, clusters []Cluster, onChange func(cluster string, instances []Instance)) *ConsulSource {
	s := &ConsulSource{client: client, onChange: onChange}
	for _, c := range clusters {
		if c.Discovery != nil {
			s.clusters = append(s.clusters, c)
		}
	}
	return s
}

// Run watches until ctx ends, then returns nil once every watch stopped.
func (s *ConsulSource) Run(ctx context.Context) error {
	if s.WaitTime <= 0 {
		s.WaitTime = DefaultConsulWaitTime
	}
	if s.MinInterval <= 0 {
		s.MinInterval = DefaultConsulMinInterval
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = DefaultConsulMaxBackoff
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	var wg sync.WaitGroup
	for _, c := range s.clusters {
		wg.Go(func() { s.watch(ctx, c) })
	}
	wg.Wait()
	return nil
}

func (s *ConsulSource) watch(ctx context.Context, c Cluster) {
	d := c.Discovery
	log := s.Logger.With("component", "consul-discovery", "cluster", c.Name, "service", d.Service, "tag", d.Tag)
	var (
		index     uint64
		last      []Instance
		delivered bool
		bo        = consulwait.Backoff{Min: s.MinInterval, Max: s.MaxBackoff}
	)
	for {
		started := time.Now()
		q := &consulapi.QueryOptions{WaitIndex: index, WaitTime: s.WaitTime, AllowStale: true}
		entries, meta, err := s.client.Health().Service(d.Service, d.Tag, false, q.WithContext(ctx))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := bo.Next()
			log.Warn("consul discovery query failed; keeping the last instance list", "error", err, "retry_in", wait)
			if !consulwait.Sleep(ctx, wait) {
				return
			}
			continue
		}
		bo.Reset()
		index = consulwait.NextIndex(index, meta.LastIndex)
		instances := consulInstances(d, entries, log)
		if !delivered || !reflect.DeepEqual(instances, last) {
			log.Info("consul discovery updated", "instances", len(instances), "index", meta.LastIndex)
			s.mu.Lock()
			s.onChange(c.Name, instances)
			s.mu.Unlock()
			last, delivered = instances, true
		}
		if !consulwait.Sleep(ctx, time.Until(started.Add(s.MinInterval))) {
			return
		}
	}
}

// consulInstances maps catalog entries to instances, leaving out vigil's own
// registrations and entries without a usable address.
func consulInstances(d *ConsulDiscovery, entries []*consulapi.ServiceEntry, log *slog.Logger) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil || e.Node == nil {
			continue
		}
		if e.Node.Meta[ConsulOwnerMeta] != "" || e.Service.Meta[ConsulOwnerMeta] != "" {
			continue // a vigil registration, not a target
		}
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		if host == "" || e.Service.Port <= 0 {
			log.Warn("skipping a consul instance without address or port", "node", e.Node.Node, "service_id", e.Service.ID)
			continue
		}
		inst := Instance{
			ID:      e.Node.Node + "/" + e.Service.ID,
			Address: net.JoinHostPort(host, strconv.Itoa(e.Service.Port)),
			Meta:    maps.Clone(e.Service.Meta),
			Source:  "consul",
		}
		if w := e.Service.Weights.Passing; w > 0 {
			inst.Weight = uint32(w)
		}
		if l := e.Service.Locality; l != nil {
			inst.Region, inst.Zone = l.Region, l.Zone
		}
		if d.HealthPortMeta != "" {
			if v, ok := e.Service.Meta[d.HealthPortMeta]; ok {
				port, err := parsePort(v)
				if err != nil {
					log.Warn("ignoring an invalid health port in service meta", "service_id", e.Service.ID, "meta_key", d.HealthPortMeta, "error", err)
				} else {
					inst.ProbePort = port
				}
			}
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port", v)
	}
	return p, nil
}
