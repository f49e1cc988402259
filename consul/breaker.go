package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/sony/gobreaker"
)

// errUnavailable marks errors that mean Consul did not answer.
var errUnavailable = errors.New("consul unavailable")

// breakerTrips is how many consecutive failed calls open the breaker.
const breakerTrips = 3

func newBreaker(o Options, log *slog.Logger) *gobreaker.CircuitBreaker {
	return gobreaker.NewCircuitBreaker(gobreaker.Settings{
		Name:        "consul",
		MaxRequests: 1,
		Timeout:     o.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= breakerTrips },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Info("consul circuit breaker changed state", "from", breakerStateName(from), "to", breakerStateName(to))
			o.Metrics.ConsulBreakerState(breakerStateName(to))
		},
		IsSuccessful: consulAnswered,
	})
}

func breakerStateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half-open"
	default:
		return "closed"
	}
}

// consulAnswered tells the breaker which outcomes show Consul reachable:
// success, a client error (4xx: Consul answered; retrying harder will not
// help) and our own cancellation. Transport errors, timeouts and 5xx count
// as failures.
func consulAnswered(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return true
	}
	var se consulapi.StatusError
	if errors.As(err, &se) {
		return se.Code < 500
	}
	var ne notOwnedError
	var re refusedError
	return errors.As(err, &ne) || errors.As(err, &re)
}

// call runs one Consul request through the breaker with a bounded context.
func (p *Publisher) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	_, err := p.cb.Execute(func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
		defer cancel()
		return nil, fn(cctx)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return fmt.Errorf("%s: %w at %s (circuit %s)", what, errUnavailable, p.addr, breakerStateName(p.cb.State()))
	case consulAnswered(err):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return fmt.Errorf("%s: %w at %s: %w", what, errUnavailable, p.addr, err)
	}
}

// notOwnedError says vigil's node belongs to someone else.
type notOwnedError struct{ node, owner string }

func (e notOwnedError) Error() string {
	return fmt.Sprintf("consul node %q is not owned by this vigil deployment (its %s is %q); refusing to write to it", e.node, MetaDeployment, e.owner)
}

// describe turns a sync error into the Healthy detail.
func describe(err error) string {
	return "consul: " + err.Error()
}
