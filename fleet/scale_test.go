package fleet

import (
	"context"
	"net"

	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestScale starts 2,000 instances of all formats over two loopback
// addresses, probes each one (HTTP; grpc.health.v1 for a sample of the grpc
// instances, a TCP connect for the rest), kills a tenth, and
// checks that Close leaves no goroutines behind.
// It is not parallel so the goroutine count is not disturbed.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 2000
	baseline := runtime.NumGoroutine()
	began := time.Now()
	f, err := Start(context.Background(), Spec{N: n, Formats: AllFormats()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	startTook := time.Since(began)

	insts := f.Instances()
	hosts := map[string]bool{}
	addrs := map[string]bool{}
	for _, in := range insts {
		hosts[in.Address[:strings.LastIndex(in.Address, ":")]] = true
		addrs[in.Address] = true
	}
	if len(addrs) != n || len(hosts) != 2 || !hosts["127.0.0.1"] || !hosts["127.0.0.2"] {
		t.Errorf("%d distinct addresses on hosts %v, want %d on 127.0.0.1 and 127.0.0.2", len(addrs), hosts, n)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxIdleConns: n}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	probeAll := func() (ok, fail int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan Instance)
		for range 16 {
			wg.Go(func() {
				for in := range work {
					good := false
					switch {
					case in.Format == FormatGRPC && in.Address[len(in.Address)-1] == '7': // a sample: grpc clients are costly under -race
						good = grpcServing(in.Address)
					case in.Format == FormatGRPC:
						conn, err := net.DialTimeout("tcp", in.Address, 10*time.Second)
						if good = err == nil; good {
							_ = conn.Close() // the connect was all that was wanted
						}
					default:
						r, err := tryGet(c, in.Address, in.ReadinessPath)
						good = err == nil && r.code == 200
					}
					mu.Lock()
					if good {
						ok++
					} else {
						fail++
					}
					mu.Unlock()
				}
			})
		}
		for _, in := range insts {
			work <- in
		}
		close(work)
		wg.Wait()
		return ok, fail
	}
	probeBegan := time.Now()
	if ok, fail := probeAll(); ok != n || fail != 0 {
		t.Errorf("ready fleet: %d ok, %d failed", ok, fail)
	}
	t.Logf("probed all in %v", time.Since(probeBegan))
	for _, in := range insts[:n/10] {
		mustSet(t, f, in.ID, StateDead)
	}
	if ok, fail := probeAll(); ok != n-n/10 || fail != n/10 {
		t.Errorf("after killing a tenth: %d ok, %d failed", ok, fail)
	}

	began = time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closeTook := time.Since(began)
	tr.CloseIdleConnections()
	t.Logf("start %v, close %v", startTook, closeTook)
	if startTook > 60*time.Second || closeTook > 60*time.Second {
		t.Errorf("start %v / close %v too slow", startTook, closeTook)
	}

	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines back to %d (baseline %d) %v after Close", runtime.NumGoroutine(), baseline, time.Since(began))
	if g := runtime.NumGoroutine(); g > baseline {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before Start:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// grpcServing asks addr's grpc.health.v1 service whether it is SERVING.
func grpcServing(addr string) bool {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false
	}
	defer cc.Close() //nolint:errcheck // test cleanup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && r.Status == healthpb.HealthCheckResponse_SERVING
}
