package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/membership"
)

const (
	// streamBuffer bounds the events buffered for one slow client; past
	// it the client gets a "resync" event.
	streamBuffer = 4096
	// streamWriteTimeout is how long one write to a client may take.
	streamWriteTimeout = 30 * time.Second
	// streamRetryMS is the reconnection delay suggested to EventSource.
	streamRetryMS = 2000
)

// The SSE stream of GET /api/v1/events/stream (optionally filtered with
// ?cluster= and ?instance=) carries:
//
//   - "hello" once subscribed: {"last_seq": N, "resumed": bool};
//   - unnamed (message) events, one per membership event, with id: seq and
//     the event's JSON as data;
//   - "resync" when events were lost ({"reason": "...", "dropped": N}):
//     reload state from the JSON API;
//   - "clusters" when clusters appear or go ({"added": [...], "removed": [...]});
//   - ": ping" comments as heartbeats.
//
// A client resumes with the Last-Event-ID header (browsers send it on
// reconnect) or ?last_event_id=.
type streamWriter struct {
	w   *bufio.Writer
	rc  *http.ResponseController
	err error
}

func (sw *streamWriter) printf(format string, args ...any) {
	if sw.err == nil {
		_, sw.err = fmt.Fprintf(sw.w, format, args...)
	}
}

func (sw *streamWriter) event(name string, id uint64, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		sw.err = fmt.Errorf("encode %s event: %w", name, err)
		return
	}
	if id != 0 {
		sw.printf("id: %d\n", id)
	}
	if name != "" {
		sw.printf("event: %s\n", name)
	}
	sw.printf("data: %s\n\n", b)
}

func (sw *streamWriter) flush() error {
	if sw.err != nil {
		return sw.err
	}
	_ = sw.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if err := sw.w.Flush(); err != nil {
		sw.err = err
		return err
	}
	sw.err = sw.rc.Flush()
	return sw.err
}

type streamFilter struct{ cluster, instance string }

func (f streamFilter) match(ev *membership.Event) bool {
	return (f.cluster == "" || ev.Cluster == f.cluster) && (f.instance == "" || ev.Instance == f.instance)
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	var resumeFrom uint64
	resume := false
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	if lastID != "" {
		n, err := strconv.ParseUint(lastID, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad Last-Event-ID: want an event sequence number")
			return
		}
		resumeFrom, resume = n, true
	}
	filter := streamFilter{cluster: r.URL.Query().Get("cluster"), instance: r.URL.Query().Get("instance")}

	// Subscribe before reading history so nothing falls between the two;
	// events seen twice are skipped by sequence number.
	sub := s.opts.Store.Subscribe(streamBuffer)
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: bufio.NewWriter(w), rc: http.NewResponseController(w)}

	// last is the newest sequence number the client has seen; events at or
	// below it are not sent again.
	var last uint64
	latest := s.latestSeq()
	sw.printf("retry: %d\n\n", streamRetryMS)
	switch {
	case resume && resumeFrom > latest:
		// An id from an earlier run of vigil (sequence numbers restart):
		// nothing can be replayed, start from now.
		sw.event("hello", 0, map[string]any{"last_seq": latest, "resumed": false})
		sw.event("resync", 0, map[string]any{"reason": "unknown_event_id", "dropped": 0})
	case resume:
		backlog, complete := s.opts.Store.EventsAfter(resumeFrom)
		last = resumeFrom
		if len(backlog) > 0 {
			last = backlog[len(backlog)-1].Seq
		}
		sw.event("hello", 0, map[string]any{"last_seq": last, "resumed": true})
		if !complete {
			sw.event("resync", 0, map[string]any{"reason": "history_evicted", "dropped": 0})
		}
		for i := range backlog {
			if filter.match(&backlog[i]) {
				sw.event("", backlog[i].Seq, &backlog[i])
			}
		}
	default:
		// The subscription holds only events newer than itself: send all.
		sw.event("hello", 0, map[string]any{"last_seq": latest, "resumed": false})
	}
	if err := sw.flush(); err != nil {
		return
	}

	known := map[string]bool{}
	first := true
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-heartbeat.C:
			sw.printf(": ping\n\n")
		case <-sub.C():
			b := sub.Next()
			s.writeBatch(sw, b, filter, known, first, &last)
			first = false
		}
		if err := sw.flush(); err != nil {
			s.log.Debug("event stream ended", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
}

// latestSeq is the sequence number of the newest event in history (0: none).
func (s *Server) latestSeq() uint64 {
	evs := s.opts.Store.Events(membership.EventQuery{Limit: 1})
	if len(evs) == 0 {
		return 0
	}
	return evs[0].Seq
}

// writeBatch writes one subscription batch: cluster set changes, a resync
// if events were dropped, then every event newer than *last.
func (s *Server) writeBatch(sw *streamWriter, b membership.Batch, f streamFilter, known map[string]bool, first bool, last *uint64) {
	var added, removed []string
	for _, c := range b.Changed {
		if !known[c.Name] {
			known[c.Name] = true
			added = append(added, c.Name)
		}
	}
	if first {
		// The first batch is the state at subscription: its clusters are
		// not news. Its removals are: a cluster removed before this batch
		// was read is coalesced out of the state and only listed here.
		added = nil
	}
	for _, name := range b.Removed {
		if known[name] || first {
			delete(known, name)
			removed = append(removed, name)
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		if added == nil {
			added = []string{}
		}
		if removed == nil {
			removed = []string{}
		}
		sw.event("clusters", 0, map[string]any{"added": added, "removed": removed})
	}
	if b.Dropped > 0 {
		sw.event("resync", 0, map[string]any{"reason": "client_too_slow", "dropped": b.Dropped})
	}
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Seq <= *last {
			continue
		}
		*last = ev.Seq
		if f.match(ev) {
			sw.event("", ev.Seq, ev)
		}
	}
}
