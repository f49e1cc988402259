package api

import "net/http"

// handleReload serves POST /api/v1/reload: 200 when the new config is in
// force, 422 with the reasons when it was rejected (the running config
// stays), 501 when reloading is not wired.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	if s.opts.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available")
		return
	}
	if err := s.opts.Reload(); err != nil {
		s.log.Warn("reload rejected", "by", who(r), "err", err)
		writeError(w, http.StatusUnprocessableEntity, "reload rejected, the running config stays: "+err.Error())
		return
	}
	s.log.Info("config reloaded", "by", who(r))
	writeJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "store_version": s.opts.Store.Version()})
}
