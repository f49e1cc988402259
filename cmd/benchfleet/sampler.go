package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

// lateSampler estimates the share of probes vigil starts within 100 ms of
// their schedule when vigil does not export the count. It reads an
// instance's next due time from the admin API, waits until a little after
// it, and reads the start time of the probe that ran. It is a fallback: the
// admin calls cost vigil some CPU.
type lateSampler struct {
	adm       *admin
	instances []fleet.FileEntry
	interval  time.Duration

	mu      sync.Mutex
	samples int
	late    int
	errs    int
}

type probeView struct {
	NextProbe *time.Time `json:"next_probe"`
	Last      *struct {
		Time time.Time `json:"time"`
	} `json:"last"`
}

type instanceView struct {
	Liveness  *probeView `json:"liveness"`
	Readiness *probeView `json:"readiness"`
}

func (s *lateSampler) fetch(ctx context.Context, in fleet.FileEntry) (*instanceView, error) {
	path := "/api/v1/clusters/" + url.PathEscape(in.Meta["format"]) + "/instances/" + url.PathEscape(in.ID)
	resp, err := s.adm.get(ctx, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", path, resp.Status)
	}
	var v instanceView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &v, nil
}

// run samples with workers goroutines until ctx ends.
func (s *lateSampler) run(ctx context.Context, workers int, seed uint64) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for ctx.Err() == nil {
				s.sampleOnce(ctx, rng)
			}
		}()
	}
	wg.Wait()
}

func (s *lateSampler) sampleOnce(ctx context.Context, rng *rand.Rand) {
	in := s.instances[rng.IntN(len(s.instances))]
	readiness := rng.IntN(2) == 1
	pick := func(v *instanceView) *probeView {
		if readiness {
			return v.Readiness
		}
		return v.Liveness
	}
	v, err := s.fetch(ctx, in)
	if err != nil {
		s.count(false, false, ctx.Err() == nil)
		return
	}
	p := pick(v)
	if p == nil || p.NextProbe == nil {
		return // running right now: no due time to check
	}
	due := *p.NextProbe
	if time.Until(due) > 2*s.interval {
		return
	}
	// The probe after this one cannot start before due+interval, so at
	// due+0.4*interval the last result is this probe's if it has run.
	if sleepCtx(ctx, time.Until(due.Add(s.interval*4/10))) != nil {
		return
	}
	v, err = s.fetch(ctx, in)
	if err != nil {
		s.count(false, false, ctx.Err() == nil)
		return
	}
	p = pick(v)
	if p == nil {
		return
	}
	if p.Last == nil || p.Last.Time.Before(due) {
		s.count(true, true, false) // not done 0.4 interval after due: late
		return
	}
	s.count(true, p.Last.Time.Sub(due) > lateAfter, false)
}

func (s *lateSampler) count(sample, late, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sample {
		s.samples++
		if late {
			s.late++
		}
	}
	if failed {
		s.errs++
	}
}

func (s *lateSampler) result() (samples, late, errs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.late, s.errs
}
