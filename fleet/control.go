package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
)

// FlipRequest is the body of POST /flip: either explicit IDs or a random
// share of the fleet (chosen among instances not already in State).
type FlipRequest struct {
	IDs   []string `json:"ids,omitempty"`
	Share float64  `json:"share,omitempty"` // 0 < share <= 1
	Seed  *uint64  `json:"seed,omitempty"`  // makes the share's choice reproducible
	State State    `json:"state"`
}

// ControlHandler serves the control API:
//
//	GET  /instances  -> [Instance...]
//	POST /flip       <- FlipRequest, -> [Flip...] (the flips recorded now)
//	GET  /flips      -> [Flip...] (all flips so far, oldest first)
func (f *Fleet) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /instances", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.Instances())
	})
	mux.HandleFunc("GET /flips", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.Flips())
	})
	mux.HandleFunc("POST /flip", f.serveFlip)
	return mux
}

func (f *Fleet) serveFlip(w http.ResponseWriter, r *http.Request) {
	var req FlipRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("fleet: decode flip request: %w", err))
		return
	}
	ids, err := f.flipTargets(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	flips := make([]Flip, 0, len(ids))
	for _, id := range ids {
		fl, changed, err := f.set(id, req.State)
		if err != nil { // report what was done before the failure
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "flips": flips})
			return
		}
		if changed {
			flips = append(flips, fl)
		}
	}
	writeJSON(w, http.StatusOK, flips)
}

// flipTargets validates req and resolves the instances it names.
func (f *Fleet) flipTargets(req FlipRequest) ([]string, error) {
	if _, err := ParseState(string(req.State)); err != nil {
		return nil, err
	}
	switch {
	case len(req.IDs) > 0 && req.Share != 0:
		return nil, fmt.Errorf("fleet: give either ids or share, not both")
	case len(req.IDs) > 0:
		for _, id := range req.IDs {
			if _, ok := f.byID[id]; !ok {
				return nil, fmt.Errorf("fleet: unknown instance %q", id)
			}
		}
		return req.IDs, nil
	case req.Share > 0 && req.Share <= 1:
		k := int(math.Round(req.Share * float64(len(f.insts))))
		var ids []string
		if req.Seed != nil {
			ids = f.randomIDs(k, req.State, rand.New(rand.NewPCG(*req.Seed, 0)))
		} else {
			f.mu.Lock()
			ids = f.randomIDs(k, req.State, f.rng)
			f.mu.Unlock()
		}
		slices.SortFunc(ids, f.compareIndex)
		return ids, nil
	}
	return nil, fmt.Errorf("fleet: need ids or a share in (0,1], got share %v", req.Share)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the status is sent; a client gone mid-answer has nothing more to get
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
