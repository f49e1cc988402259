package xds_test

import (
	"slices"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/xds"
)

// A restarted vigil on the same port answers reconnecting clients with the
// current state, whatever versions they held from the previous process.
func TestRestartResyncsClients(t *testing.T) {
	f := newFixture()
	first := startServer(t, f.store, xds.DefaultOptions(), "")
	addr := first.addr
	conn := dial(t, addr) // one connection, as a client keeps it across restarts

	// SotW client: CDS and EDS.
	s := newSotw(t, conn, envoyNode)
	s.request(typeCluster, nil, "", "", "")
	cds := s.recvType(typeCluster)
	s.ack(cds, nil)
	names := []string{"alpha", "beta-eds", "gamma"}
	s.request(typeCLA, names, "", "", "")
	eds := s.recvType(typeCLA)
	s.ack(eds, names)

	// Delta client: EDS, remembering the versions it holds.
	d := newDelta(t, conn, envoyNode)
	d.subscribe(typeCLA, names...)
	dr := d.recvType(typeCLA)
	d.ack(dr)
	held := map[string]string{}
	for _, r := range dr.GetResources() {
		held[r.GetName()] = r.GetVersion()
	}

	first.stop()
	// While vigil is down, an instance drains.
	setStatus(t, f.store, "alpha", "a", membership.StatusDraining)

	second := startServer(t, f.store, xds.DefaultOptions(), addr)
	if second.srv.VersionPrefix() == first.srv.VersionPrefix() {
		t.Fatalf("both starts use version prefix %q", first.srv.VersionPrefix())
	}

	// SotW: reconnect presenting the versions from the first process, as
	// Envoy does; the new process answers with what is current.
	s2 := newSotw(t, conn, envoyNode)
	s2.request(typeCluster, nil, cds.GetVersionInfo(), "", "")
	cds2 := s2.recvType(typeCluster)
	if len(cds2.GetResources()) != 3 || !strings.HasPrefix(cds2.GetVersionInfo(), second.srv.VersionPrefix()) {
		t.Fatalf("CDS after restart: %d clusters, version %q (prefix %q)", len(cds2.GetResources()),
			cds2.GetVersionInfo(), second.srv.VersionPrefix())
	}
	s2.ack(cds2, nil)
	s2.request(typeCLA, names, eds.GetVersionInfo(), "", "")
	assignments := decodeCLAs(t, s2.recvType(typeCLA).GetResources())
	if got := keys(assignments); !slices.Equal(got, names) {
		t.Fatalf("EDS after restart = %v, want %v", got, names)
	}
	if got := statuses(assignments["alpha"])[0]; got != "10.0.0.1=DRAINING/test: DRAINING" {
		t.Errorf("alpha/a after restart = %s, want DRAINING", got)
	}

	// Delta: reconnect with the versions held; only what changed comes.
	d2 := newDelta(t, conn, envoyNode)
	d2.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeCLA, ResourceNamesSubscribe: names, InitialResourceVersions: held})
	dr2 := d2.recvType(typeCLA)
	if got := keys(decodeCLAs(t, deltaAnys(dr2))); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("delta resync sent %v, want only the changed alpha", got)
	}
}
