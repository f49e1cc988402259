package fleet

import (
	"net/http"
	"strconv"
	"time"
)

// serveProbe answers a probe of whichever instance accepted the connection.
func (f *Fleet) serveProbe(w http.ResponseWriter, r *http.Request) {
	in, _ := r.Context().Value(instKey{}).(*instance)
	if in == nil {
		http.Error(w, "fleet: connection has no instance", http.StatusInternalServerError)
		return
	}
	rl := route(in.format, r.URL.Path)
	if rl == roleNone {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := in.slowWait(r.Context()); err != nil {
		panic(http.ErrAbortHandler) // client gone or fleet closing: drop the connection
	}
	st := in.getState()
	switch st {
	case StateDead: // raced with going dead: behave like a closed socket
		panic(http.ErrAbortHandler)
	case StateSlow:
		st = StateReady
	}
	resp := answer(in, rl, st, time.Now())
	h := w.Header()
	h.Set("Content-Type", resp.ctype)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	if resp.drain {
		h.Set(drainHeader, "true")
	}
	w.WriteHeader(resp.code)
	w.Write(resp.body)
}
