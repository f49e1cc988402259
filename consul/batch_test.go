package consul_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// txnWatch is a reverse proxy in front of the agent that records the size
// of every /v1/txn request passing through.
type txnWatch struct {
	mu    sync.Mutex
	sizes []int
}

func (w *txnWatch) proxy(t *testing.T, agentAddr string) string {
	t.Helper()
	target, _ := url.Parse("http://" + agentAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/txn" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
			var ops []json.RawMessage
			if err := json.Unmarshal(body, &ops); err != nil {
				t.Errorf("txn body is not a JSON list: %v", err)
			}
			w.mu.Lock()
			w.sizes = append(w.sizes, len(ops))
			w.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (w *txnWatch) snapshot() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.sizes...)
}

// A large cluster is written in transactions of at most 64 operations, and
// a burst of status changes inside one batch window shares transactions.
func TestWritesAreBatchedInBoundedTransactions(t *testing.T) {
	a := requireAgent(t)
	const n = 150
	var members []membership.Member
	var ports []int
	for i := range n {
		members = append(members, instance(40000+i, membership.StatusHealthy))
		ports = append(ports, 40000+i)
	}
	watch := &txnWatch{}
	spec := &upstreams.Cluster{Name: "batch-web"}
	opts := consul.Options{Deployment: "t-batch", BatchWindow: 300 * time.Millisecond, ResyncInterval: time.Hour}
	f := newFixture(t, watch.proxy(t, a.HTTPAddr), spec, members, opts)
	runtest.Eventually(t, 30*time.Second, "all passing", func() error {
		return passingPorts(f.client, "batch-web").are(ports...)
	})
	sizes := watch.snapshot()
	total := 0
	for _, s := range sizes {
		if s > 64 || s == 0 {
			t.Errorf("a transaction carried %d ops", s)
		}
		total += s
	}
	if total < 2*n+1 { // node, then a service and a check per instance
		t.Errorf("%d ops in %d transactions for %d instances", total, len(sizes), n)
	}

	before := len(sizes)
	for i := range 100 {
		f.set(40000+i, membership.StatusDraining, "bulk drain")
	}
	runtest.Eventually(t, opts.BatchWindow+slack, "bulk drain visible", func() error {
		return passingPorts(f.client, "batch-web").are(ports[100:]...)
	})
	burst := watch.snapshot()[before:]
	// 100 check updates fit in 2 transactions; allow a few more if the burst
	// straddled a batch window on a slow machine, but not one per change.
	if len(burst) > 10 {
		t.Errorf("100 status changes took %d transactions (%v), want them batched", len(burst), burst)
	}
	t.Logf("initial: %d transactions %v; burst: %v", len(sizes), sizes, burst)
}
