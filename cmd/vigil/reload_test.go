package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/consul/consultest"
)

// discoveryVigil runs vigil with one cluster discovered from Consul (one
// instance, a real HTTP server) and Consul publishing on, and waits until
// the instance is probed healthy.
func discoveryVigil(t *testing.T, agent *consultest.Agent) *running {
	t.Helper()
	t.Setenv("VIGIL_ADMIN_TOKEN", "s3cret")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(target.Close)
	host, port := splitHostPort(t, target.Listener.Addr().String())
	if err := agent.Client().Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "target-1", Name: "target", Address: host, Port: port}); err != nil {
		t.Fatal(err)
	}
	r := startVigil(t, startFleet(t), func(cfg *config.Config) {
		cfg.Consul = &config.Consul{Address: agent.HTTPAddr, BatchWindow: 50 * time.Millisecond}
		cfg.Clusters = []config.Cluster{{Name: "discovered", Dialect: "status",
			Readiness: &config.Probe{Path: "/ready"},
			Discovery: &config.Discovery{Consul: &config.ConsulDiscovery{Service: "target"}}}}
	})
	r.waitStatus("discovered", agent.Node+"/target-1", "HEALTHY")
	return r
}

// postReload reloads through the admin API.
func (r *running) postReload() {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.admin+"/api/v1/reload", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	_ = resp.Body.Close() // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("POST /api/v1/reload: %d", resp.StatusCode)
	}
}

// connsTo counts this process's established TCP connections to port on
// loopback, from /proc/net/tcp and /proc/self/fd.
func connsTo(t *testing.T, port int) int {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // read-only: nothing to lose
	want := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ... uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[2] == want && fields[3] == "01" && mine[fields[9]] {
			n++
		}
	}
	return n
}

// goroutinesIn counts the goroutines running fn (a qualified function name).
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn+"(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

const watchFunc = "upstreams.(*ConsulSource).watch"

// settle polls until cond holds.
func settle(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReloadsShareOneConsulClient: 50 reloads (SIGHUP and the API) with
// Consul discovery leave no Consul connection and no goroutine behind: the
// process keeps one Consul client (and its few pooled connections) for
// the publisher and every discovery source. Before, each reload left a
// client with a connection and its two goroutines.
func TestReloadsShareOneConsulClient(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts connections through /proc")
	}
	agent := consultest.StartForTest(t)
	r := discoveryVigil(t, agent)
	port, _ := strconv.Atoi(strings.TrimPrefix(agent.HTTPAddr, "127.0.0.1:"))
	for range 3 { // let the shared client's pool reach its working size
		r.postReload()
	}
	waitHTTP(t, r.admin+"/readyz", http.StatusOK, 15*time.Second) // the publisher is in sync
	baseConns, baseG := connsTo(t, port), runtime.NumGoroutine()
	t.Logf("before: %d connections to the agent, %d goroutines", baseConns, baseG)

	for i := range 50 {
		if i%2 == 0 {
			r.signals <- syscall.SIGHUP
		} else {
			r.postReload()
		}
	}
	r.postReload() // queued behind any SIGHUP still reloading
	r.waitStatus("discovered", agent.Node+"/target-1", "HEALTHY")

	// A pooled connection (two goroutines) may be idle now that was busy
	// before, and the other way round: the pool holds at most
	// GOMAXPROCS+1 idle connections per host.
	pool := runtime.GOMAXPROCS(0) + 1
	settle(t, 10*time.Second, "connections and goroutines back", func() error {
		conns, g := connsTo(t, port), runtime.NumGoroutine()
		if conns > pool+2 || g > baseG+2*pool {
			return fmt.Errorf("%d connections to the agent (were %d), %d goroutines (were %d)", conns, baseConns, g, baseG)
		}
		return nil
	})
	if n := goroutinesIn(watchFunc); n != 1 {
		t.Errorf("%d discovery watches running, want 1", n)
	}
	t.Logf("after 50 reloads: %d connections to the agent, %d goroutines", connsTo(t, port), runtime.NumGoroutine())
}

// TestConcurrentReloadsRunOneDiscovery: a SIGHUP and an API reload at the
// same moment, again and again, leave exactly one discovery source running
// (before, both could start one and the first leaked, applying its
// updates forever). Run with -race, it also checks the running config is
// not read unguarded while a reload writes it.
func TestConcurrentReloadsRunOneDiscovery(t *testing.T) {
	agent := consultest.StartForTest(t)
	r := discoveryVigil(t, agent)
	for range 20 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			r.signals <- syscall.SIGHUP
		})
		wg.Go(func() {
			<-start
			r.postReload()
		})
		close(start)
		wg.Wait()
	}
	r.postReload()
	settle(t, 5*time.Second, "one discovery watch", func() error {
		if n := goroutinesIn(watchFunc); n != 1 {
			return fmt.Errorf("%d discovery watches running", n)
		}
		return nil
	})
	r.waitStatus("discovered", agent.Node+"/target-1", "HEALTHY")
	r.signals <- syscall.SIGTERM // reads drain_period while nothing reloads
	select {
	case err := <-r.done:
		r.done <- err // for r.stop, which reports it
	case <-time.After(10 * time.Second):
		t.Fatal("vigil did not stop")
	}
	if n := goroutinesIn(watchFunc); n != 0 {
		t.Errorf("%d discovery watches still running after stop", n)
	}
}
