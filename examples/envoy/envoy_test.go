package envoy_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	// Every type named by a typed_config in envoy.yaml, so protojson can
	// resolve the Anys. (http_connection_manager and upstreams/http are
	// imported above for the assertions.)
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/xds"
)

// loadBootstrap reads envoy.yaml the way Envoy does: YAML, as proto JSON,
// into the v3 Bootstrap, unknown fields rejected.
func loadBootstrap(t *testing.T) *bootstrapv3.Bootstrap {
	t.Helper()
	raw, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("envoy.yaml is not YAML: %v", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("envoy.yaml as JSON: %v", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("envoy.yaml is not an envoy.config.bootstrap.v3.Bootstrap: %v", err)
	}
	return b
}

func TestEnvoyBootstrapValidates(t *testing.T) {
	b := loadBootstrap(t)
	// ValidateAll on the bootstrap and on every Any inside it, recursively.
	if err := xds.Validate(b); err != nil {
		t.Fatalf("envoy.yaml does not validate: %v", err)
	}
}

func TestEnvoyBootstrapTakesClustersFromVigil(t *testing.T) {
	b := loadBootstrap(t)
	if b.GetNode().GetId() == "" || b.GetNode().GetCluster() == "" {
		t.Errorf("node id and cluster must be set: %v", b.GetNode())
	}
	dyn := b.GetDynamicResources()
	ads := dyn.GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_GRPC && ads.GetApiType() != corev3.ApiConfigSource_DELTA_GRPC {
		t.Errorf("ads api_type = %s", ads.GetApiType())
	}
	if ads.GetTransportApiVersion() != corev3.ApiVersion_V3 || len(ads.GetGrpcServices()) != 1 ||
		ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != "vigil_xds" {
		t.Errorf("ads_config does not name vigil_xds over v3: %v", ads)
	}
	if dyn.GetCdsConfig().GetAds() == nil {
		t.Errorf("cds_config is not ADS: %v", dyn.GetCdsConfig())
	}

	var vigilPort uint32
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() != "vigil_xds" {
			continue
		}
		opts := &httpv3.HttpProtocolOptions{}
		any := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
		if any == nil || any.UnmarshalTo(opts) != nil || opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("vigil_xds must speak HTTP/2 (gRPC): %v", c.GetTypedExtensionProtocolOptions())
		}
		sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		vigilPort = sa.GetPortValue()
	}
	if vigilPort == 0 {
		t.Fatalf("no static cluster vigil_xds with an address")
	}

	var routed string
	for _, l := range b.GetStaticResources().GetListeners() {
		if l.GetAddress().GetSocketAddress().GetPortValue() != 10000 {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatalf("listener :10000 has no HttpConnectionManager: %v", err)
		}
		rc := hcm.GetRouteConfig()
		if rc.GetValidateClusters() == nil || rc.GetValidateClusters().GetValue() {
			t.Errorf("validate_clusters must be false: the cluster arrives over CDS after start-up")
		}
		routed = rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster()
	}
	if routed == "" {
		t.Fatalf("no listener on :10000 routing to a cluster")
	}

	// The demo's vigil configuration must load, serve xDS where Envoy
	// looks, and define the cluster Envoy routes to.
	cfg, err := config.Load(filepath.Join("..", "compose", "vigil.yaml"))
	if err != nil {
		t.Fatalf("examples/compose/vigil.yaml: %v", err)
	}
	_, port, err := net.SplitHostPort(cfg.XDS.Listen)
	if err != nil || port != strconv.Itoa(int(vigilPort)) {
		t.Errorf("vigil xds.listen %q, Envoy's vigil_xds port %d", cfg.XDS.Listen, vigilPort)
	}
	found := false
	for _, c := range cfg.Clusters {
		found = found || c.Name == routed
	}
	if !found {
		t.Errorf("Envoy routes to %q, which examples/compose/vigil.yaml does not define", routed)
	}
}
