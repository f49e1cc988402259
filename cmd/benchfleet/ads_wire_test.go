package main

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// The watcher's scan of an encoded assignment finds exactly what a full
// decode finds: every endpoint's address, port and health, and the name.
func TestScanAssignmentMatchesFullDecode(t *testing.T) {
	ms := make([]membership.Member, 60)
	for i := range ms {
		addr := fmt.Sprintf("10.1.%d.%d:%d", i/200, i%200, 8000+i)
		if i%7 == 0 {
			addr = fmt.Sprintf("[fd00::%x]:%d", i, 9000+i)
		}
		ms[i] = membership.Member{
			Instance: upstreams.Instance{ID: fmt.Sprintf("i%03d", i), Address: addr, Weight: uint32(1 + i%3),
				Zone: fmt.Sprintf("z%d", i%4), Priority: uint32(i % 2)},
			Status: membership.Statuses[i%len(membership.Statuses)], Reason: fmt.Sprintf("reason %d", i),
		}
	}
	cla := xds.BuildAssignment(membership.NewSnapshot(&upstreams.Cluster{Name: "c"}, ms))
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cla)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{}
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			want[net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))] = int32(e.GetHealthStatus())
		}
	}
	got := map[string]int32{}
	name, err := scanAssignment(b, func(ep wireEndpoint) {
		got[string(appendEndpointKey(nil, ep.host, ep.port))] = ep.health
	})
	if err != nil {
		t.Fatal(err)
	}
	if name != cla.GetClusterName() || len(got) != len(ms) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan: %q %v\nfull: %q %v", name, got, cla.GetClusterName(), want)
	}
	if _, err := scanAssignment(b[:len(b)-3], func(wireEndpoint) {}); err == nil {
		t.Fatal("a truncated assignment scanned without error")
	}
}
