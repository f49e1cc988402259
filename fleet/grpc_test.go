package fleet

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPC checks grpc.health.v1 Check and Watch through the states.
func TestGRPC(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	f := startFleet(t, Spec{N: 1, Formats: []Format{FormatGRPC}, SlowDelay: delay})
	in := f.Instances()[0]
	if in.LivenessPath != "" || in.ReadinessPath != "" {
		t.Errorf("grpc instance has paths %q %q", in.LivenessPath, in.ReadinessPath)
	}
	cc, err := grpc.NewClient(in.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close() //nolint:errcheck // test cleanup
	hc := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if r.Status != want {
			t.Errorf("Check: %v, want %v", r.Status, want)
		}
	}
	check(healthpb.HealthCheckResponse_SERVING)

	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch first: %v %v", r, err)
	}
	mustSet(t, f, in.ID, StateNotReady)
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after notready: %v %v", r, err)
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING)
	mustSet(t, f, in.ID, StateDraining)
	check(healthpb.HealthCheckResponse_NOT_SERVING)
	mustSet(t, f, in.ID, StateDegraded)
	check(healthpb.HealthCheckResponse_SERVING)

	mustSet(t, f, in.ID, StateSlow)
	began := time.Now()
	check(healthpb.HealthCheckResponse_SERVING)
	if took := time.Since(began); took < delay {
		t.Errorf("slow Check took %v, want at least %v", took, delay)
	}

	mustSet(t, f, in.ID, StateDead)
	for i := 0; ; i++ { // drain updates of the flips above, then the stream must end
		_, err := w.Recv()
		if err == nil && i < 10 {
			continue
		}
		if status.Code(err) != codes.Unavailable {
			t.Errorf("Watch after dead: %v, want Unavailable", err)
		}
		break
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err = hc.Check(short, &healthpb.HealthCheckRequest{})
	cancelShort()
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Errorf("Check dead: %v, want Unavailable", err)
	}

	mustSet(t, f, in.ID, StateReady)
	check(healthpb.HealthCheckResponse_SERVING)
}
