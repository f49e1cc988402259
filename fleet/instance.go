package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// instance is one simulated service instance.
type instance struct {
	f             *Fleet
	index         int
	ordinal       int // index among the fleet's instances of the same format
	id            string
	format        Format
	live, ready   string
	frontendReady []byte // dynamo-frontend /health body once ready

	state   atomic.Value // State
	started atomic.Int64 // unix nanos of the last (re)start: worker uptime

	mu     sync.Mutex // guards the fields below and state changes
	addr   string     // host:port; fixed once the first listener is bound
	closed bool
	ln     *trackedListener // HTTP formats; nil while dead
	conns  map[liveConn]struct{}
	gs     *grpc.Server // grpc format; nil while dead
	gln    net.Listener // the listener gs serves (closed by down even if Serve has not started)
	hs     *health.Server
}

func (in *instance) getState() State { return in.state.Load().(State) }

func (in *instance) startedAt() time.Time { return time.Unix(0, in.started.Load()) }

func (in *instance) snapshot() Instance {
	in.mu.Lock()
	addr := in.addr
	in.mu.Unlock()
	return Instance{ID: in.id, Address: addr, Format: in.format, State: in.getState(), LivenessPath: in.live, ReadinessPath: in.ready}
}

// up binds the instance's address and starts serving. Called with in.mu held.
func (in *instance) up(ctx context.Context) error {
	var lc net.ListenConfig
	raw, err := lc.Listen(ctx, "tcp4", in.addr)
	if err != nil {
		return fmt.Errorf("fleet: listen %s for %s: %w", in.addr, in.id, err)
	}
	in.addr = raw.Addr().String()
	in.started.Store(time.Now().UnixNano())
	if in.format == FormatGRPC {
		in.serveGRPC(raw)
		return nil
	}
	ln := &trackedListener{Listener: raw, inst: in}
	in.ln = ln
	in.f.wg.Add(1)
	go in.acceptLoop(ln)
	return nil
}

// acceptLoop hands every connection ln accepts to the fleet's connection
// serving until ln is closed. Other accept errors (such as running out of
// files) are retried after a growing pause, as net/http does.
func (in *instance) acceptLoop(ln *trackedListener) {
	defer in.f.wg.Done()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			in.f.log.Warn("fleet: accept", "id", in.id, "address", ln.Addr().String(), "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
				continue
			case <-in.f.done:
				return
			}
		}
		pause = 0
		in.adopt(ln, c)
	}
}

// down closes the listener and every connection: clients see connection
// refused and resets. Called with in.mu held.
func (in *instance) down() {
	if in.ln != nil {
		_ = in.ln.Close() // going down on purpose: nothing to lose
		in.ln = nil
		for c := range in.conns {
			c.kill() // whoever serves c unregisters it
		}
	}
	if in.gs != nil {
		// Stop closes the listener only once Serve runs; Serve starts in its
		// own goroutine, so close it here or a dial just after could connect.
		_ = in.gln.Close() // likewise
		in.gs.Stop()
		in.gs, in.gln, in.hs = nil, nil, nil
	}
}
