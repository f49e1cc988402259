package consul

import (
	"context"
	"errors"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// errNoLeader is a Consul that answers but cannot take writes.
var errNoLeader = errors.New("no cluster leader")

// watchConsul asks Consul for its leader every HealthInterval, through the
// breaker, until ctx ends. A failed check shows in Healthy at once and
// counts toward opening the breaker (the next check comes sooner, so an
// outage opens it within seconds even with nothing to write); the first
// check that passes after a failure clears it and wakes Run for a full
// reconcile.
func (p *Publisher) watchConsul(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := p.call(ctx, "health check", func(c context.Context) error {
			leader, err := p.client.Status().LeaderWithQueryOptions((&consulapi.QueryOptions{}).WithContext(c))
			if err == nil && leader == "" {
				err = errNoLeader
			}
			return err
		})
		if ctx.Err() != nil {
			return
		}
		next := p.opts.HealthInterval
		recovered := false
		down := errors.Is(err, errUnavailable) // an error Consul answered with still shows it is there
		p.updateHealth(func() {
			switch {
			case down:
				p.unreachable = describe(err)
			case p.unreachable != "":
				p.unreachable, recovered = "", true
			}
		})
		if down {
			next = min(next, failedCheckInterval)
		}
		if recovered {
			p.requestFull()
		}
		timer.Reset(next)
	}
}

// failedCheckInterval is the most a check waits after a failed one.
const failedCheckInterval = 500 * time.Millisecond
