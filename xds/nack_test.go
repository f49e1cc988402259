package xds_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/vigilhq/vigil/membership"
)

// nackLogs returns the NACK records logged so far.
func nackLogs(buf *lockedBuffer) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec["msg"].(string), "NACK") {
			out = append(out, rec)
		}
	}
	return out
}

func TestNACKIsLoggedAndStreamsGoOn(t *testing.T) {
	f := newFixture()
	srv, buf, metrics := startObservedServer(t, f.store)
	conn := dial(t, srv.addr)
	names := []string{"alpha"}

	bad := newSotw(t, conn, &corev3.Node{Id: "picky-envoy"})
	bad.request(typeCLA, names, "", "", "")
	r := bad.recvType(typeCLA)
	bad.request(typeCLA, names, "", r.GetNonce(), "endpoint 10.0.0.1 rejected: test")

	good := newSotw(t, conn, &corev3.Node{Id: "happy-envoy"})
	good.request(typeCLA, names, "", "", "")
	good.ack(good.recvType(typeCLA), names)

	badDelta := newDelta(t, conn, &corev3.Node{Id: "picky-delta"})
	badDelta.subscribe(typeCLA, names...)
	dr := badDelta.recvType(typeCLA)
	badDelta.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeCLA, ResponseNonce: dr.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: 3, Message: "delta rejected: test"}})

	waitFor(t, "two NACK log records", func() bool { return len(nackLogs(buf)) >= 2 })
	var seen []string
	for _, rec := range nackLogs(buf) {
		if rec["level"] != "WARN" || rec["type"] != typeCLA {
			t.Errorf("NACK record %v: want level WARN and type %s", rec, typeCLA)
		}
		seen = append(seen, rec["node"].(string)+": "+rec["error"].(string))
	}
	slices.Sort(seen)
	want := []string{"picky-delta: delta rejected: test", "picky-envoy: endpoint 10.0.0.1 rejected: test"}
	if !slices.Equal(seen, want) {
		t.Errorf("NACKs logged: %v, want %v", seen, want)
	}
	if n := metrics.get(func(m *countingMetrics) int { return m.nacks[typeCLA] }); n != 2 {
		t.Errorf("Metrics.NACK counted %d, want 2", n)
	}

	// Every stream, including the ones that NACKed, still gets updates.
	setStatus(t, f.store, "alpha", "a", membership.StatusDraining)
	for name, got := range map[string]func() []string{
		"good": func() []string { return statuses(decodeCLAs(t, good.recvType(typeCLA).GetResources())["alpha"]) },
		"bad": func() []string {
			// Nothing came after the NACK; the next response is alpha's change.
			r := bad.recvType(typeCLA)
			bad.ack(r, names)
			return statuses(decodeCLAs(t, r.GetResources())["alpha"])
		},
		"bad delta": func() []string { return statuses(decodeCLAs(t, deltaAnys(badDelta.recvType(typeCLA)))["alpha"]) },
	} {
		if s := got(); len(s) == 0 || s[0] != "10.0.0.1=DRAINING/test: DRAINING" {
			t.Errorf("%s stream after the NACK got %v", name, s)
		}
	}
	if n := metrics.get(func(m *countingMetrics) int { return m.closed }); n != 0 {
		t.Errorf("%d streams closed", n)
	}
}
