package consultest

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/consulwait"
)

// WatchPassing follows Consul's ?passing answer for service with blocking
// queries, as a Consul DNS or template consumer does, until the test ends:
// seen gets every answer's passing "host:port" addresses. A failed query
// is retried 100 ms later (the agent may be stopped on purpose).
func WatchPassing(t testing.TB, client *consulapi.Client, service string, seen func(at time.Time, passing []string)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		var index uint64
		for ctx.Err() == nil {
			q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
			entries, meta, err := client.Health().Service(service, "", true, q)
			if err != nil {
				consulwait.Sleep(ctx, 100*time.Millisecond)
				continue
			}
			passing := make([]string, 0, len(entries))
			for _, e := range entries {
				passing = append(passing, net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)))
			}
			seen(time.Now(), passing)
			index = consulwait.NextIndex(index, meta.LastIndex)
		}
	})
}
