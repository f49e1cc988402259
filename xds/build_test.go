package xds_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

func TestBuildAssignmentMapsStatusLocalityAndWeight(t *testing.T) {
	spec := &upstreams.Cluster{Name: "web", XDS: upstreams.XDSOptions{EDSServiceName: "web-eds"}}
	ms := []membership.Member{
		member("a", "10.0.0.1:80", membership.StatusHealthy),
		member("b", "10.0.0.2:80", membership.StatusDegraded),
		member("c", "10.0.0.3:80", membership.StatusDraining),
		member("d", "10.0.0.4:80", membership.StatusUnhealthy),
		member("e", "[::1]:81", membership.StatusUnknown),
	}
	ms[0].Zone, ms[0].Region, ms[0].Weight = "z1", "r1", 3
	ms[1].Zone, ms[1].Region, ms[1].Weight = "z1", "r1", 0 // unset weight publishes as 1
	ms[2].Zone, ms[2].Region, ms[2].SubZone = "z2", "r1", "rack7"
	ms[3].Priority = 7 // a gap: published as priority 1
	ms[4].Priority = 7
	snap := membership.NewSnapshot(spec, ms)

	cla := xds.BuildAssignment(snap)
	if err := xds.Validate(cla); err != nil {
		t.Fatalf("assignment does not validate: %v", err)
	}
	if cla.GetClusterName() != "web-eds" {
		t.Errorf("cluster_name = %q, want the EDS service name web-eds", cla.GetClusterName())
	}
	type ep struct {
		locality string
		priority uint32
		lweight  uint32
		addr     string
		port     uint32
		weight   uint32
		health   corev3.HealthStatus
		status   string
		reason   string
	}
	var got []ep
	for _, l := range cla.GetEndpoints() {
		loc := l.GetLocality()
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			md := e.GetMetadata().GetFilterMetadata()[xds.MetadataKey].GetFields()
			got = append(got, ep{
				locality: loc.GetRegion() + "/" + loc.GetZone() + "/" + loc.GetSubZone(),
				priority: l.GetPriority(), lweight: l.GetLoadBalancingWeight().GetValue(),
				addr: sa.GetAddress(), port: sa.GetPortValue(), weight: e.GetLoadBalancingWeight().GetValue(),
				health: e.GetHealthStatus(), status: md["status"].GetStringValue(), reason: md["reason"].GetStringValue(),
			})
		}
	}
	want := []ep{
		{"r1/z1/", 0, 4, "10.0.0.1", 80, 3, corev3.HealthStatus_HEALTHY, "HEALTHY", "test: HEALTHY"},
		{"r1/z1/", 0, 4, "10.0.0.2", 80, 1, corev3.HealthStatus_DEGRADED, "DEGRADED", "test: DEGRADED"},
		{"r1/z2/rack7", 0, 1, "10.0.0.3", 80, 1, corev3.HealthStatus_DRAINING, "DRAINING", "test: DRAINING"},
		{"//", 1, 2, "10.0.0.4", 80, 1, corev3.HealthStatus_UNHEALTHY, "UNHEALTHY", "test: UNHEALTHY"},
		{"//", 1, 2, "::1", 81, 1, corev3.HealthStatus_UNKNOWN, "UNKNOWN", "test: UNKNOWN"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("endpoints:\n got %v\nwant %v", got, want)
	}
	// The numbers of membership.Status are Envoy's, one to one.
	for _, s := range membership.Statuses {
		if int32(xds.HealthStatus(s)) != int32(s) || xds.HealthStatus(s).String() != s.String() {
			t.Errorf("status %s maps to %s", s, xds.HealthStatus(s))
		}
	}
	// Same content, same message: change detection relies on it.
	if again := xds.BuildAssignment(snap); !proto.Equal(cla, again) {
		t.Errorf("two builds of the same snapshot differ")
	}
}

func TestBuildAssignmentEmptyCluster(t *testing.T) {
	cla := xds.BuildAssignment(&membership.ClusterSnapshot{Name: "none", Spec: &upstreams.Cluster{Name: "none"}})
	if cla.GetClusterName() != "none" || len(cla.GetEndpoints()) != 0 {
		t.Fatalf("got %v", cla)
	}
	if err := xds.Validate(cla); err != nil {
		t.Fatal(err)
	}
}

func TestBuildClusterOptions(t *testing.T) {
	panicAt := 25.0
	for _, tc := range []struct {
		opts    upstreams.XDSOptions
		timeout time.Duration
		panic   *float64
		eds     string
	}{
		{upstreams.XDSOptions{}, time.Second, nil, "api"},
		{upstreams.XDSOptions{LBPolicy: "LEAST_REQUEST", ConnectTimeout: 250 * time.Millisecond,
			HealthyPanicThreshold: &panicAt, EDSServiceName: "api-v2"}, 250 * time.Millisecond, &panicAt, "api-v2"},
	} {
		c := xds.BuildCluster(&upstreams.Cluster{Name: "api", XDS: tc.opts})
		if err := xds.Validate(c); err != nil {
			t.Fatalf("%+v: cluster does not validate: %v", tc.opts, err)
		}
		if c.GetName() != "api" || c.GetType() != clusterv3.Cluster_EDS {
			t.Errorf("name/type = %s/%s", c.GetName(), c.GetType())
		}
		if c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil || c.GetEdsClusterConfig().GetServiceName() != tc.eds {
			t.Errorf("eds config = %v, want ADS with service %s", c.GetEdsClusterConfig(), tc.eds)
		}
		if c.GetConnectTimeout().AsDuration() != tc.timeout {
			t.Errorf("connect_timeout = %s, want %s", c.GetConnectTimeout().AsDuration(), tc.timeout)
		}
		got := c.GetCommonLbConfig().GetHealthyPanicThreshold()
		switch {
		case tc.panic == nil && got != nil:
			t.Errorf("healthy_panic_threshold set to %v without config", got)
		case tc.panic != nil && got.GetValue() != *tc.panic:
			t.Errorf("healthy_panic_threshold = %v, want %v", got, *tc.panic)
		}
	}
}

func TestBuildListenerAndRouteForProxylessGRPC(t *testing.T) {
	spec := &upstreams.Cluster{Name: "echo"}
	l := xds.BuildListener(spec)
	if err := xds.Validate(l); err != nil {
		t.Fatalf("listener does not validate: %v", err)
	}
	if l.GetName() != "echo" {
		t.Errorf("listener name %q", l.GetName())
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.GetApiListener().GetApiListener().UnmarshalTo(hcm); err != nil {
		t.Fatalf("api_listener is not an HttpConnectionManager: %v", err)
	}
	if hcm.GetRds().GetConfigSource().GetAds() == nil || hcm.GetRds().GetRouteConfigName() != "echo" {
		t.Errorf("rds = %v, want route config echo over ADS", hcm.GetRds())
	}
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetName() != "envoy.filters.http.router" ||
		!strings.HasSuffix(filters[len(filters)-1].GetTypedConfig().GetTypeUrl(), "router.v3.Router") {
		t.Errorf("last http filter is not the router: %v", filters)
	}

	r := xds.BuildRoute(spec)
	if err := xds.Validate(r); err != nil {
		t.Fatalf("route does not validate: %v", err)
	}
	vh := r.GetVirtualHosts()
	if r.GetName() != "echo" || len(vh) != 1 || len(vh[0].GetRoutes()) != 1 ||
		vh[0].GetRoutes()[0].GetRoute().GetCluster() != "echo" || vh[0].GetDomains()[0] != "*" ||
		vh[0].GetRoutes()[0].GetMatch().GetPrefix() != "" {
		t.Errorf("route config = %v", r)
	}
}

// Validate must look inside Any: ValidateAll alone does not.
func TestValidateChecksInsideAny(t *testing.T) {
	bad := &hcmv3.HttpConnectionManager{} // no stat_prefix, no route specifier
	a, err := anypb.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	l := &listenerv3.Listener{Name: "x", ApiListener: &listenerv3.ApiListener{ApiListener: a}}
	if err := l.ValidateAll(); err != nil {
		t.Fatalf("outer ValidateAll should pass: %v", err)
	}
	err = xds.Validate(l)
	if err == nil || !strings.Contains(err.Error(), "HttpConnectionManager") {
		t.Fatalf("Validate = %v, want an error naming the HttpConnectionManager inside the Any", err)
	}
	unknown := &listenerv3.Listener{Name: "x", ApiListener: &listenerv3.ApiListener{
		ApiListener: &anypb.Any{TypeUrl: "type.googleapis.com/not.a.Registered"}}}
	if err := xds.Validate(unknown); err == nil {
		t.Fatalf("Validate accepted an Any of an unregistered type")
	}
}

func benchSnapshot(n int) *membership.ClusterSnapshot {
	ms := make([]membership.Member, n)
	for i := range ms {
		ms[i] = member(fmt.Sprintf("i%05d", i), fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255),
			membership.Statuses[i%len(membership.Statuses)])
		ms[i].Zone = fmt.Sprintf("z%d", i%3)
	}
	return membership.NewSnapshot(&upstreams.Cluster{Name: "bench"}, ms)
}

// BenchmarkBuildAssignment times building one cluster's assignment.
func BenchmarkBuildAssignment(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		snap := benchSnapshot(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = xds.BuildAssignment(snap)
			}
		})
	}
}

func TestBuildAssignmentManyLocalities(t *testing.T) {
	var ms []membership.Member
	for i := range 60 {
		m := member(fmt.Sprintf("m%02d", i), fmt.Sprintf("10.9.0.%d:80", i), membership.StatusHealthy)
		m.Zone = fmt.Sprintf("z%02d", i%20)
		ms = append(ms, m)
	}
	cla := xds.BuildAssignment(membership.NewSnapshot(&upstreams.Cluster{Name: "many"}, ms))
	if len(cla.GetEndpoints()) != 20 {
		t.Fatalf("got %d localities, want 20", len(cla.GetEndpoints()))
	}
	for i, l := range cla.GetEndpoints() {
		if want := fmt.Sprintf("z%02d", i); l.GetLocality().GetZone() != want || len(l.GetLbEndpoints()) != 3 ||
			l.GetLoadBalancingWeight().GetValue() != 3 {
			t.Errorf("locality %d = %s with %d endpoints, weight %d; want %s with 3, weight 3", i,
				l.GetLocality().GetZone(), len(l.GetLbEndpoints()), l.GetLoadBalancingWeight().GetValue(), want)
		}
	}
}
