package xds

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

func memoSnapshot(n int) *membership.ClusterSnapshot {
	ms := make([]membership.Member, n)
	for i := range ms {
		ms[i] = membership.Member{
			Instance: upstreams.Instance{ID: fmt.Sprintf("i%05d", i), Address: fmt.Sprintf("10.0.%d.%d:80", i>>8&255, i&255),
				Weight: 1, Zone: fmt.Sprintf("z%d", i%3)},
			Status: membership.StatusHealthy, Reason: "ok",
		}
	}
	return membership.NewSnapshot(&upstreams.Cluster{Name: "c"}, ms)
}

// withStatus is snap with member i's status changed, sharing the rest, as
// Store.UpdateMember makes it.
func withStatus(snap *membership.ClusterSnapshot, i int, st membership.Status) *membership.ClusterSnapshot {
	ms := slices.Clone(snap.Members)
	m := *ms[i]
	m.Status = st
	ms[i] = &m
	return &membership.ClusterSnapshot{Name: snap.Name, Spec: snap.Spec, Members: ms}
}

func TestIncrementalBuildSharesUnchangedEndpoints(t *testing.T) {
	snap := memoSnapshot(30)
	first, memo := buildAssignment(snap, nil, encodedLbEndpoint)

	same, memo2 := buildAssignment(withStatus(snap, 4, membership.StatusHealthy), memo, encodedLbEndpoint)
	if !sameAssignment(first, same) || !proto.Equal(first, same) {
		t.Fatalf("an unchanged rebuild is not equal")
	}

	changedSnap := withStatus(snap, 4, membership.StatusDraining)
	changed, _ := buildAssignment(changedSnap, memo2, encodedLbEndpoint)
	if sameAssignment(first, changed) {
		t.Fatalf("a drained member did not change the assignment")
	}
	if !sameWire(t, changed, BuildAssignment(changedSnap)) {
		t.Fatalf("incremental build differs from a fresh build")
	}
	shared, rebuilt := 0, 0
	for gi, g := range changed.GetEndpoints() {
		for ei, e := range g.GetLbEndpoints() {
			if e == first.GetEndpoints()[gi].GetLbEndpoints()[ei] {
				shared++
			} else {
				rebuilt++
			}
		}
	}
	if rebuilt != 1 || shared != 29 {
		t.Errorf("rebuilt %d endpoints and shared %d, want 1 and 29", rebuilt, shared)
	}
}

// BenchmarkRebuildAfterOneChange times what the server does when one
// instance of a cluster changes: rebuild with the memo and compare.
func BenchmarkRebuildAfterOneChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		snap := memoSnapshot(n)
		prev, memo := buildAssignment(snap, nil, encodedLbEndpoint)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				st := membership.StatusDraining
				if i%2 == 1 {
					st = membership.StatusHealthy
				}
				next, nextMemo := buildAssignment(withStatus(snap, i%n, st), memo, encodedLbEndpoint)
				_ = sameAssignment(prev, next)
				prev, memo = next, nextMemo
				i++
			}
		})
	}
}

// sameWire reports whether a and b marshal to the same bytes, the way the
// server sends them (deterministic).
func sameWire(t testing.TB, a, b proto.Message) bool {
	t.Helper()
	opts := proto.MarshalOptions{Deterministic: true}
	ab, err := opts.Marshal(a)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	bb, err := opts.Marshal(b)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(ab) == string(bb)
}

// mixedSnapshot has every status, reasons, three zones in two regions and
// two priorities.
func mixedSnapshot(n int) *membership.ClusterSnapshot {
	snap := memoSnapshot(n)
	for i, m := range snap.Members { // not yet shared: changed in place
		m.Status = membership.Statuses[i%len(membership.Statuses)]
		m.Reason = fmt.Sprintf("readiness: reason %d", i)
		m.Region = fmt.Sprintf("r%d", i%2)
		m.Priority = uint32(i % 2 * 5)
		m.Weight = uint32(1 + i%4)
	}
	return snap
}

func TestEncodedAssignmentIsTheFullOneOnTheWire(t *testing.T) {
	snap := mixedSnapshot(40)
	full := BuildAssignment(snap)
	enc, _ := buildAssignment(snap, nil, encodedLbEndpoint)
	if !sameWire(t, enc, full) {
		t.Fatalf("the pre-encoded assignment marshals differently from the full one")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	decoded := &endpointv3.ClusterLoadAssignment{}
	if err := proto.Unmarshal(b, decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(decoded, full) {
		t.Fatalf("what a client decodes differs from the full assignment")
	}
	// A client sees every endpoint's fields, metadata included.
	ep := decoded.GetEndpoints()[0].GetLbEndpoints()[0]
	md := ep.GetMetadata().GetFilterMetadata()[MetadataKey].GetFields()
	if ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() == "" || md["reason"].GetStringValue() == "" || md["id"].GetStringValue() == "" {
		t.Fatalf("decoded endpoint lost fields: %v", ep)
	}
}

// BenchmarkPushAfterOneChange times what one push costs after one member
// of a cluster changed: the rebuild plus the deterministic encoding the
// server sends, with endpoints pre-encoded (as published) or not.
func BenchmarkPushAfterOneChange(b *testing.B) {
	builders := []struct {
		name  string
		build endpointBuilder
	}{{"encoded", encodedLbEndpoint}, {"full", buildLbEndpoint}}
	for _, n := range []int{2000, 10000} {
		for _, bl := range builders {
			snap := memoSnapshot(n)
			_, memo := buildAssignment(snap, nil, bl.build)
			b.Run(fmt.Sprintf("members=%d/%s", n, bl.name), func(b *testing.B) {
				b.ReportAllocs()
				opts := proto.MarshalOptions{Deterministic: true}
				i := 0
				for b.Loop() {
					st := membership.StatusDraining
					if i%2 == 1 {
						st = membership.StatusHealthy
					}
					next, nextMemo := buildAssignment(withStatus(snap, i%n, st), memo, bl.build)
					if _, err := opts.Marshal(next); err != nil {
						b.Fatal(err)
					}
					memo = nextMemo
					i++
				}
			})
		}
	}
}

// leafFields calls f with the path and value of every settable leaf field
// of v (a struct), descending into embedded and nested structs.
func leafFields(path string, v reflect.Value, f func(path string, v reflect.Value)) {
	for i := range v.NumField() {
		fv, name := v.Field(i), path+v.Type().Field(i).Name
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Time]() {
			leafFields(name+".", fv, f)
			continue
		}
		f(name, fv)
	}
}

// changeValue sets v to a value different from the one it holds.
func changeValue(t *testing.T, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "-changed")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Int8, reflect.Int16:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint8, reflect.Uint16:
		v.SetUint(v.Uint() + 1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem())
		v.Set(m)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Struct: // time.Time
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Second)))
	default:
		t.Fatalf("%s: no way to change a %s; teach changeValue", path, v.Kind())
	}
}

// samePublished must say "same" exactly when the endpoints built from two
// members are equal, whichever field of a member differs; and the fields
// an endpoint shows are these, so a field that starts (or stops) showing
// is noticed here.
func TestSamePublishedFollowsWhatIsBuilt(t *testing.T) {
	base := membership.Member{
		Instance: upstreams.Instance{ID: "i1", Address: "10.0.0.1:80", Weight: 1, Region: "r", Zone: "z", SubZone: "s",
			Priority: 1, Meta: map[string]string{"k": "v"}, Source: "config", ProbePort: 9000},
		Status: membership.StatusHealthy, Reason: "ok", Since: time.Unix(1700000000, 0),
	}
	var shown []string
	leafFields("", reflect.ValueOf(&base).Elem(), func(path string, _ reflect.Value) {
		changed := base
		changed.Meta = maps.Clone(base.Meta)
		var field reflect.Value
		leafFields("", reflect.ValueOf(&changed).Elem(), func(p string, v reflect.Value) {
			if p == path {
				field = v
			}
		})
		changeValue(t, path, field)
		equal := proto.Equal(buildLbEndpoint(fieldsOf(&base)), buildLbEndpoint(fieldsOf(&changed)))
		if same := samePublished(&base, &changed); same != equal {
			t.Errorf("%s changed: samePublished = %v, but the built endpoints are equal: %v", path, same, equal)
		}
		if !equal {
			shown = append(shown, path)
		}
	})
	want := []string{"Instance.ID", "Instance.Address", "Instance.Weight", "Status", "Reason"}
	if !slices.Equal(shown, want) {
		t.Errorf("an endpoint shows %v, want %v (locality and priority go to its group)", shown, want)
	}
}
