package membership

import "time"

// eventLog is a bounded ring of recent events, guarded by Store.mu.
type eventLog struct {
	buf  []Event
	next int // index of the slot the next event goes into
	n    int // events held
	seq  uint64
}

func newEventLog(size int) *eventLog { return &eventLog{buf: make([]Event, size)} }

// append numbers ev and keeps it, evicting the oldest when full.
func (l *eventLog) append(ev Event) Event {
	l.seq++
	ev.Seq = l.seq
	l.buf[l.next] = ev
	l.next = (l.next + 1) % len(l.buf)
	if l.n < len(l.buf) {
		l.n++
	}
	return ev
}

func (l *eventLog) lastSeq() uint64 { return l.seq }

// at returns the i-th newest event (0 = newest).
func (l *eventLog) at(i int) *Event {
	return &l.buf[(l.next-1-i+2*len(l.buf))%len(l.buf)]
}

// EventQuery selects history. Zero fields do not filter.
type EventQuery struct {
	Cluster  string
	Instance string
	Since    time.Time // only events at or after this time
	Before   uint64    // only events with Seq < Before (paging cursor)
	Limit    int       // at most this many (default 100)
}

func (l *eventLog) query(q EventQuery) []Event {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []Event
	for i := 0; i < l.n && len(out) < q.Limit; i++ {
		ev := l.at(i)
		if q.Before != 0 && ev.Seq >= q.Before {
			continue
		}
		if !q.Since.IsZero() && ev.Time.Before(q.Since) {
			break
		}
		if q.Cluster != "" && ev.Cluster != q.Cluster {
			continue
		}
		if q.Instance != "" && ev.Instance != q.Instance {
			continue
		}
		out = append(out, *ev)
	}
	return out
}

func (l *eventLog) after(seq uint64) ([]Event, bool) {
	var out []Event
	complete := l.n == 0 || seq+1 >= l.at(l.n-1).Seq
	for i := l.n - 1; i >= 0; i-- {
		ev := l.at(i)
		if ev.Seq > seq {
			out = append(out, *ev)
		}
	}
	return out, complete
}
