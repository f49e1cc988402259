package api

import (
	"net/http"
	"strings"
)

// catchAll are the patterns that answer what no route does; a request
// they match has no route of its own.
var catchAll = map[string]bool{"GET /api/": true, "/": true}

// routeMethods are the methods the API's routes use.
var routeMethods = []string{http.MethodGet, http.MethodPost}

// handleNoRoute answers a request no route took: 405 with Allow when its
// path has routes for other methods (a GET on a POST-only call, a POST on
// a read-only one), else 404. Both in the API's JSON error shape.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range routeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); !catchAll[pattern] {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead) // GET routes answer HEAD too
			}
		}
	}
	if len(allow) == 0 {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", "))
}
