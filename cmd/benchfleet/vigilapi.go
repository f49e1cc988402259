package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// admin talks to vigil's admin API.
type admin struct {
	base   string // http://host:port
	client *http.Client
}

func (a *admin) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	return a.client.Do(req)
}

// ready reports whether GET /readyz answers 200.
func (a *admin) ready(ctx context.Context) (bool, error) {
	resp, err := a.get(ctx, "/readyz")
	if err != nil {
		return false, nil // not listening yet
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drained for the connection's reuse only
	_ = resp.Body.Close()                 // only the status is wanted
	return resp.StatusCode == http.StatusOK, nil
}

// summary is the part of GET /api/v1/summary benchfleet reads.
type summary struct {
	Instances int            `json:"instances"`
	Counts    map[string]int `json:"counts"`
}

func (a *admin) summary(ctx context.Context) (summary, error) {
	var s summary
	resp, err := a.get(ctx, "/api/v1/summary")
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("summary: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	return s, nil
}

// waitServing polls /healthz until vigil answers (a minute at most), or
// alive reports that it died.
func (a *admin) waitServing(ctx context.Context, what string, alive func() error) error {
	return poll(ctx, time.Minute, 20*time.Millisecond, what, func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		resp, err := a.get(ctx, "/healthz")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close() // an answer is all that is wanted
		return true, nil
	})
}

// metrics scrapes /metrics and returns each metric family's value summed
// over all its series (histograms: _sum and _count as their own names),
// and each labelled series under its own name{labels} too.
func (a *admin) metrics(ctx context.Context) (map[string]float64, error) {
	resp, err := a.get(ctx, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format, summing samples by name.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		rest := line[len(name):]
		series := ""
		if strings.HasPrefix(rest, "{") {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				return nil, fmt.Errorf("metrics: bad line %q", line)
			}
			series, rest = name+rest[:j+1], rest[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		out[name] += v
		if series != "" {
			out[series] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return out, nil
}

// stalled lists the instances of clusters whose newest liveness or
// readiness result is older than maxAge at now: probes that stopped
// running. Every probe runs once per interval, so any entry is a fault.
func (a *admin) stalled(ctx context.Context, clusters []string, now time.Time, maxAge time.Duration) ([]string, error) {
	type probe struct {
		Last *struct {
			Time time.Time `json:"time"`
		} `json:"last"`
	}
	var out []string
	for _, c := range clusters {
		resp, err := a.get(ctx, "/api/v1/clusters/"+c)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c, err)
		}
		var view struct {
			Instances []struct {
				ID        string `json:"id"`
				Liveness  *probe `json:"liveness"`
				Readiness *probe `json:"readiness"`
			} `json:"instances"`
		}
		err = json.NewDecoder(resp.Body).Decode(&view)
		_ = resp.Body.Close() // read: the decode's error is the one that matters
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c, err)
		}
		for _, in := range view.Instances {
			for name, p := range map[string]*probe{"liveness": in.Liveness, "readiness": in.Readiness} {
				if p != nil && (p.Last == nil || now.Sub(p.Last.Time) > maxAge) {
					out = append(out, c+"/"+in.ID+" "+name)
				}
			}
		}
	}
	return out, nil
}
