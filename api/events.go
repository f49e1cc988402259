package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/membership"
)

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

// eventsPage is one page of history, newest first. Next, when present, is
// the cursor for the following (older) page: pass it as ?before=.
type eventsPage struct {
	Events []membership.Event `json:"events"`
	Next   uint64             `json:"next,omitempty"`
}

// handleEvents serves GET /api/v1/events?cluster=&instance=&since=&limit=&before=.
// since is an RFC 3339 time or a duration back from now ("15m").
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eq := membership.EventQuery{
		Cluster:  q.Get("cluster"),
		Instance: q.Get("instance"),
		Limit:    defaultEventLimit,
	}
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v, s.opts.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad since: "+err.Error())
			return
		}
		eq.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventLimit {
			writeError(w, http.StatusBadRequest, "bad limit: want an integer from 1 to "+strconv.Itoa(maxEventLimit))
			return
		}
		eq.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeError(w, http.StatusBadRequest, "bad before: want a positive event sequence number")
			return
		}
		eq.Before = n
	}

	limit := eq.Limit
	eq.Limit++ // one more tells whether an older page exists
	evs := s.opts.Store.Events(eq)
	page := eventsPage{Events: evs}
	if len(evs) > limit {
		page.Events = evs[:limit]
		page.Next = page.Events[limit-1].Seq
	}
	if page.Events == nil {
		page.Events = []membership.Event{}
	}
	writeJSON(w, http.StatusOK, page)
}

func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}
