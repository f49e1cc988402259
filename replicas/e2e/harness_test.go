package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/proctest"
)

// Timings of every test: short, so the suite stays quick, with the
// relations of the defaults.
const (
	interval   = 250 * time.Millisecond
	sessionTTL = 3 * time.Second
	// slack is what a busy 2-core machine may add to a contract's time.
	slack = 2 * time.Second
)

var built struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path)) // a temporary dir: a leftover costs only disk
	}
	os.Exit(code)
}

// vigilBinary builds cmd/vigil once.
func vigilBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-e2e-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", built.path, "github.com/vigilhq/vigil/cmd/vigil").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// instances are real HTTP servers answering GET /ready with 200 "ok"
// while up and 503 while failing.
type instances struct {
	addrs   []string
	failing []atomic.Bool
}

func startInstances(t *testing.T, host string, n int) *instances {
	t.Helper()
	in := &instances{failing: make([]atomic.Bool, n)}
	for i := range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if in.failing[i].Load() {
				http.Error(w, "failing", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		in.addrs = append(in.addrs, ln.Addr().String())
	}
	return in
}

func (in *instances) fail(i int, failing bool) { in.failing[i].Store(failing) }

// all is every instance's address.
func (in *instances) all() []string { return append([]string(nil), in.addrs...) }

// except is every address but those of idx.
func (in *instances) except(idx ...int) []string {
	skip := map[int]bool{}
	for _, i := range idx {
		skip[i] = true
	}
	var out []string
	for i, a := range in.addrs {
		if !skip[i] {
			out = append(out, a)
		}
	}
	return out
}

// setup is what every replica of a test shares.
type setup struct {
	t          *testing.T
	agent      *consultest.Agent
	consulAddr string // as the replicas reach it
	adminHost  string // where replicas listen for their admin API (127.0.0.1)
	deployment string
	insts      *instances
	dir        string
}

func newSetup(t *testing.T, agent *consultest.Agent, insts *instances) *setup {
	return &setup{t: t, agent: agent, consulAddr: agent.HTTPAddr, adminHost: "127.0.0.1", deployment: "e2e", insts: insts, dir: t.TempDir()}
}

// replica is one vigil process; it can be killed, stopped, paused and
// started again on the same ports with the same state_dir.
type replica struct {
	s          *setup
	id         string
	admin      string // listen and advertise address
	xds        string
	cfg        string
	netns      string // run inside this network namespace; "" for none
	consulAddr string
	replicas   bool // false: a single vigil (replicas off), for comparison
	mu         sync.Mutex
	cmd        *exec.Cmd
	out        *proctest.SyncBuffer
	exited     chan struct{}
	code       int // exit code, once exited is closed
}

type replicaOption func(*replica)

// inNetns runs the replica in a network namespace, listening on admin
// and xds there and reaching Consul at consulAddr.
func inNetns(ns, admin, xds, consulAddr string) replicaOption {
	return func(r *replica) { r.netns, r.admin, r.xds, r.consulAddr = ns, admin, xds, consulAddr }
}

func single() replicaOption { return func(r *replica) { r.replicas = false } }

// startReplica writes the replica's config and starts it.
func (s *setup) startReplica(id string, opts ...replicaOption) *replica {
	s.t.Helper()
	r := &replica{s: s, id: id, xds: freeAddr(s.t, "127.0.0.1"), consulAddr: s.consulAddr, replicas: true}
	for _, o := range opts {
		o(r)
	}
	if r.admin == "" {
		r.admin = freeAddr(s.t, s.adminHost)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: %q}\nxds: {listen: %q}\nstate_dir: %q\ndrain_period: 0s\n", r.admin, r.xds, filepath.Join(s.dir, id))
	if r.replicas {
		fmt.Fprintf(&b, "consul: {address: %q, deployment: %s, batch_window: 50ms, resync_interval: 5s}\n", r.consulAddr, s.deployment)
		fmt.Fprintf(&b, "replicas: {enabled: true, id: %s, session_ttl: %s, quorum: majority}\n", id, sessionTTL)
	}
	fmt.Fprintf(&b, "defaults: {interval: %s, timeout: 200ms, jitter_percent: 0, healthy_threshold: 2, unhealthy_threshold: 2}\n", interval)
	b.WriteString("clusters:\n  - name: web\n    readiness: {path: /ready}\n    instances:\n")
	for _, a := range s.insts.addrs {
		fmt.Fprintf(&b, "      - {address: %q}\n", a)
	}
	r.cfg = filepath.Join(s.dir, id+".yaml")
	if err := os.WriteFile(r.cfg, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	r.start()
	s.t.Cleanup(r.kill)
	return r
}

// start runs the process (again).
func (r *replica) start() {
	r.s.t.Helper()
	args := []string{vigilBinary(r.s.t), "serve", "-config", r.cfg, "-log-level", "debug"}
	if r.netns != "" {
		args = append([]string{"ip", "netns", "exec", r.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "VIGIL_ADMIN_TOKEN="+adminToken)
	out := &proctest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		r.mu.Unlock()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.out, r.exited = cmd, out, exited
	r.mu.Unlock()
	r.s.t.Cleanup(func() {
		if r.s.t.Failed() {
			r.s.t.Logf("--- %s (pid %d) output, last 6000 bytes:\n%s", r.id, cmd.Process.Pid, tail(out.String(), 6000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (r *replica) signal(sig syscall.Signal) {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	_ = cmd.Process.Signal(sig)
}

// kill SIGKILLs the process and waits for it to go.
func (r *replica) kill() {
	r.signal(syscall.SIGCONT) // a paused process dies only once continued
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// stop SIGTERMs the process and waits for it to exit.
func (r *replica) stop() {
	r.s.t.Helper()
	r.signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		r.s.t.Fatalf("%s did not stop within 30s of SIGTERM", r.id)
	}
}

// getJSON fetches an admin API path into v and returns the status code
// (0 when the replica does not answer).
func (r *replica) getJSON(path string, v any) int {
	resp, err := httpClient.Get("http://" + r.admin + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

func (r *replica) post(path string, body string) {
	r.s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.admin+path, strings.NewReader(body))
	if err != nil {
		r.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		r.s.t.Fatalf("POST %s on %s: %v", path, r.id, err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		r.s.t.Fatalf("POST %s on %s: %s: %s", path, r.id, resp.Status, b.String())
	}
}

// replicasView is GET /api/v1/replicas.
type replicasView struct {
	Self          string `json:"self"`
	Writer        string `json:"writer"`
	Disagreements int    `json:"disagreements"`
	Replicas      []struct {
		ID     string `json:"id"`
		Live   bool   `json:"live"`
		Voting bool   `json:"voting"`
		Writer bool   `json:"writer"`
	} `json:"replicas"`
}

func (r *replica) replicasView() (replicasView, bool) {
	var v replicasView
	return v, r.getJSON("/api/v1/replicas", &v) == http.StatusOK
}

// ready reports whether /readyz answers 200.
func (r *replica) ready() bool { return r.getJSON("/readyz", nil) == http.StatusOK }

// writer is the replica that says it writes the catalog, or nil.
func writer(reps ...*replica) *replica {
	for _, r := range reps {
		if v, ok := r.replicasView(); ok && v.Writer == r.id {
			return r
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// adminToken is every replica's admin token.
const adminToken = "e2e-token"

// freeAddr is host with a port free at the time of asking.
func freeAddr(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // only its address was wanted
	return ln.Addr().String()
}
