package replicas

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// Handler serves this replica's own verdicts to its peers (mount it at
// Options.StreamPath on the admin listener): NDJSON, a hello line, a
// snapshot of the local store, an end marker, then a line per member that
// changes, instance or cluster that goes, and a heartbeat every
// Options.Heartbeat. A steady fleet costs only heartbeats.
func (r *Replica) Handler() http.Handler { return http.HandlerFunc(r.serveVerdicts) }

func (r *Replica) serveVerdicts(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	select {
	case <-r.stopped:
		http.Error(w, `{"error":"replica stopped"}`, http.StatusServiceUnavailable)
		return
	default:
	}
	r.stats.streams.Add(1)
	defer r.stats.streams.Add(-1)
	sub := r.opts.Local.Subscribe(1) // events are not streamed
	defer sub.Close()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	s := &verdictStream{r: r, rc: http.NewResponseController(w), bw: bufio.NewWriterSize(w, 32<<10),
		sent: make(map[string]*membership.ClusterSnapshot)}
	err := s.serve(req, sub)
	if err != nil && req.Context().Err() == nil {
		r.log.Debug("replica stream to a peer ended", "remote", req.RemoteAddr, "error", err)
	}
}

// verdictStream is one peer's connection.
type verdictStream struct {
	r    *Replica
	rc   *http.ResponseController
	bw   *bufio.Writer
	sent map[string]*membership.ClusterSnapshot // what the peer has, per cluster
}

func (s *verdictStream) serve(req *http.Request, sub *membership.Subscription) error {
	o := s.r.opts
	// The snapshot may be megabytes: give it longer than a delta.
	if err := s.deadline(max(o.stall(), 30*time.Second)); err != nil {
		return err
	}
	s.write(line{T: lineHello, ID: o.ID, Epoch: s.r.epoch, Proto: protoVersion}, false)
	first := sub.Next()
	for _, c := range first.Changed {
		s.diff(c)
	}
	s.write(line{T: lineEnd}, false)
	if err := s.flush(); err != nil {
		return err
	}
	hb := time.NewTicker(o.Heartbeat)
	defer hb.Stop()
	for {
		var tick, changed bool
		select {
		case <-req.Context().Done():
			return nil
		case <-s.r.stopped:
			return nil
		case <-sub.C():
			changed = true
		case <-hb.C:
			tick = true
		}
		if err := s.deadline(o.stall()); err != nil {
			return err
		}
		if changed {
			b := sub.Next()
			for _, name := range b.Removed {
				if _, ok := s.sent[name]; ok {
					delete(s.sent, name)
					s.write(line{T: lineClusterGone, Cluster: name}, false)
				}
			}
			for _, c := range b.Changed {
				s.diff(c)
			}
		}
		if tick {
			s.write(line{T: lineHeartbeat}, true)
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// diff writes what changed in a cluster since the peer's copy: members new
// or changed (compared by pointer first: snapshots share unchanged
// members), then gone.
func (s *verdictStream) diff(c *membership.ClusterSnapshot) {
	old := s.sent[c.Name]
	s.sent[c.Name] = c
	var prev []*membership.Member
	if old != nil {
		prev = old.Members
	}
	i, j := 0, 0
	for i < len(prev) || j < len(c.Members) {
		switch {
		case j == len(c.Members) || (i < len(prev) && prev[i].ID < c.Members[j].ID):
			s.write(line{T: lineGone, Cluster: c.Name, Inst: prev[i].ID}, false)
			i++
		case i == len(prev) || c.Members[j].ID < prev[i].ID:
			s.write(memberLine(c.Name, c.Members[j].ID, compact(c.Members[j])), false)
			j++
		default:
			if prev[i] != c.Members[j] {
				if m := compact(c.Members[j]); !m.same(compact(prev[i])) {
					s.write(memberLine(c.Name, c.Members[j].ID, m), false)
				}
			}
			i++
			j++
		}
	}
}

func (s *verdictStream) write(l line, heartbeat bool) {
	b := encodeLine(l)
	_, _ = s.bw.Write(b) // a failed write shows at flush
	s.r.stats.sent.Add(uint64(len(b)))
	if heartbeat {
		s.r.stats.heartbeatSent.Add(uint64(len(b)))
	}
}

// deadline bounds the writes that follow: a peer that does not take them
// within d is dropped.
func (s *verdictStream) deadline(d time.Duration) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return nil
}

// flush sends what is buffered.
func (s *verdictStream) flush() error {
	if s.bw.Buffered() == 0 {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
