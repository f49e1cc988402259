package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/vigilhq/vigil/membership"
)

// eventLog follows vigil's admin event stream (SSE) and keeps every
// transition, by instance.
type eventLog struct {
	mu      sync.Mutex
	byInst  map[string][]membership.Event
	total   int
	resyncs int
	changed chan struct{} // signalled (non-blocking) on every new event
}

func newEventLog() *eventLog {
	return &eventLog{byInst: map[string][]membership.Event{}, changed: make(chan struct{}, 1)}
}

// follow reads GET /api/v1/events/stream until ctx ends. It returns once
// the stream is open (after its hello event); reading goes on in the
// background and done is closed when it stops.
func (l *eventLog) follow(ctx context.Context, a *admin) (done <-chan error, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/v1/events/stream", nil)
	if err != nil {
		return nil, err
	}
	// The stream must not be cut by a client timeout.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close() // the status is the error to report
		return nil, fmt.Errorf("event stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	hello := make(chan struct{})
	out := make(chan error, 1)
	go func() {
		defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
		var name string
		var data strings.Builder
		helloSeen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data.Len() > 0 || name != "" {
					if name == "hello" && !helloSeen {
						helloSeen = true
						close(hello)
					}
					if err := l.dispatch(name, data.String()); err != nil {
						out <- err
						return
					}
				}
				name = ""
				data.Reset()
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
		if !helloSeen {
			close(hello)
		}
		if ctx.Err() != nil {
			out <- nil
			return
		}
		out <- fmt.Errorf("event stream ended: %v", sc.Err())
	}()
	select {
	case <-hello:
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *eventLog) dispatch(name, data string) error {
	switch name {
	case "resync":
		l.mu.Lock()
		l.resyncs++
		l.mu.Unlock()
		return nil
	case "":
	default:
		return nil // hello, clusters
	}
	var ev membership.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return fmt.Errorf("event stream: decode %q: %w", data, err)
	}
	if ev.Kind != membership.EventTransition && ev.Kind != membership.EventOverride {
		return nil
	}
	l.mu.Lock()
	l.byInst[ev.Instance] = append(l.byInst[ev.Instance], ev)
	l.total++
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

// events returns the transitions of one instance, oldest first.
func (l *eventLog) events(id string) []membership.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]membership.Event(nil), l.byInst[id]...)
}

func (l *eventLog) counts() (total, resyncs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.resyncs
}
