package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// netns is a network namespace joined to the host by a veth pair. The
// host side has two addresses: fleet (where the instances listen) and
// control (Consul and the other replicas); the namespace side has inside.
type netns struct {
	name                   string
	fleet, control, inside string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes the namespace and its link; both go when the test ends.
// It skips the test when not root or without ip(8).
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: no ip(8) to make a network namespace (apt-get install iproute2)")
	}
	pid := os.Getpid()
	subnet := fmt.Sprintf("169.254.%d.", 20+pid%200) // link-local: never leaves this machine
	n := &netns{name: fmt.Sprintf("vigil-e2e-%d", pid), fleet: subnet + "1", control: subnet + "3", inside: subnet + "2"}
	host, peer := fmt.Sprintf("vge%dh", pid%100000), fmt.Sprintf("vge%dn", pid%100000)
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", n.name).Run() })
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", host).Run() })
	run(t, "ip", "link", "set", peer, "netns", n.name)
	// control first: the primary address, the source of every connection
	// from the host into the namespace, so that cutting the fleet's address
	// does not cut the answers to those.
	run(t, "ip", "addr", "add", n.control+"/24", "dev", host)
	run(t, "ip", "addr", "add", n.fleet+"/24", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "netns", "exec", n.name, "ip", "addr", "add", n.inside+"/24", "dev", peer)
	run(t, "ip", "netns", "exec", n.name, "ip", "link", "set", peer, "up")
	run(t, "ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	return n
}

// cut drops, inside the namespace, everything sent to the fleet's
// address: probes from there time out while Consul and the other
// replicas stay reachable. heal undoes it.
func (n *netns) cut(t *testing.T) {
	run(t, "ip", "netns", "exec", n.name, "ip", "route", "add", "blackhole", n.fleet+"/32")
}

func (n *netns) heal(t *testing.T) {
	run(t, "ip", "netns", "exec", n.name, "ip", "route", "del", "blackhole", n.fleet+"/32")
}

// relay forwards TCP connections from listen to target until the test
// ends (Consul's agent listens on loopback only, which the namespace
// cannot reach).
func relay(t *testing.T, listen, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = ln.Close() }) // test cleanup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close() //nolint:errcheck // a proxied connection: nothing to lose
				var d net.Dialer
				u, err := d.DialContext(ctx, "tcp", target)
				if err != nil {
					return
				}
				defer u.Close() //nolint:errcheck // likewise
				go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String()
}

// Issue 15, failure behaviour 3: one replica cut off from the fleet (run
// in its own network namespace, its route to the instances dropped) while
// Consul and its peers stay reachable. With quorum majority no replica
// publishes any instance as failed, the cut-off replica's own xDS keeps
// serving the merged view, and the disagreement shows in the API and the
// metrics; it goes when the link is back.
func TestReplicaCutOffFromTheFleet(t *testing.T) {
	n := newNetns(t)
	agent := consultest.StartForTest(t)
	insts := startInstances(t, n.fleet, 30)
	s := newSetup(t, agent, insts)
	s.adminHost = n.control
	port := 20000 + os.Getpid()%20000
	consulRelay := relay(t, net.JoinHostPort(n.control, "0"), agent.HTTPAddr)
	a, b := s.startReplica("a"), s.startReplica("b")
	c := s.startReplica("c", inNetns(n.name, net.JoinHostPort(n.inside, strconv.Itoa(port)),
		net.JoinHostPort(n.inside, strconv.Itoa(port+1)), consulRelay))
	reps := []*replica{a, b, c}
	var eds []*view
	for _, r := range reps {
		eds = append(eds, watchEDS(t, "eds-"+r.id, r.xds))
	}
	catalog := watchCatalog(t, agent.HTTPAddr)
	all := statuses(insts.all(), healthy)
	agree(t, 30*time.Second, "three replicas publish every instance healthy", all, eds, catalog)
	runtest.Eventually(t, 10*time.Second, "three replicas voting", func() error {
		for _, r := range reps {
			v, _ := r.replicasView()
			voting := 0
			for _, p := range v.Replicas {
				if p.Voting {
					voting++
				}
			}
			if voting != 3 {
				return fmt.Errorf("%s: %d voting", r.id, voting)
			}
		}
		return nil
	})
	for _, v := range append(eds, catalog) {
		v.guard(all)
	}

	n.cut(t)
	cut := time.Now()
	runtest.Eventually(t, 5*time.Second, "the disagreement shows in the cut-off replica's API", func() error {
		if v, _ := c.replicasView(); v.Disagreements != len(insts.addrs) {
			return fmt.Errorf("%d disagreements, want %d", v.Disagreements, len(insts.addrs))
		}
		return nil
	})
	runtest.Eventually(t, 5*time.Second, "and in a peer's API and metrics", func() error {
		if v, _ := a.replicasView(); v.Disagreements != len(insts.addrs) {
			return fmt.Errorf("a: %d disagreements", v.Disagreements)
		}
		if m := c.metric("vigil_replica_disagreements"); m != strconv.Itoa(len(insts.addrs)) {
			return fmt.Errorf("c: vigil_replica_disagreements %q", m)
		}
		return nil
	})
	var votes struct {
		Status   string `json:"status"`
		Replicas struct {
			Votes []struct {
				Replica string `json:"replica"`
				Status  string `json:"status"`
			} `json:"votes"`
		} `json:"replicas"`
	}
	c.getJSON("/api/v1/clusters/web/instances/"+insts.addrs[0], &votes)
	got := map[string]string{}
	for _, v := range votes.Replicas.Votes {
		got[v.Replica] = v.Status
	}
	if votes.Status != healthy || got["a"] != healthy || got["b"] != healthy || got["c"] != unhealthy {
		t.Errorf("c's instance view: merged %s, votes %v; want HEALTHY merged, a and b HEALTHY, c UNHEALTHY", votes.Status, got)
	}
	// Hold the cut past two session TTLs: nothing may lapse into a failure.
	time.Sleep(time.Until(cut.Add(2 * sessionTTL)))
	noViolations(t, append(eds, catalog)...)

	n.heal(t)
	runtest.Eventually(t, 10*time.Second, "the disagreement goes with the cut", func() error {
		for _, r := range reps {
			if v, _ := r.replicasView(); v.Disagreements != 0 {
				return fmt.Errorf("%s: %d disagreements", r.id, v.Disagreements)
			}
		}
		return nil
	})
	noViolations(t, append(eds, catalog)...)
}

// metric is one unlabelled sample of the replica's /metrics, or "".
func (r *replica) metric(name string) string {
	resp, err := httpClient.Get("http://" + r.admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
