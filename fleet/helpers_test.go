package fleet

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// startFleet starts a fleet on OS-picked ports and closes it when t ends.
func startFleet(t *testing.T, spec Spec) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// newClient is a keep-alive HTTP client whose idle connections are closed when t ends.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type probeResult struct {
	code   int
	header http.Header
	body   string
}

// get probes http://addr+path and fails t on transport errors.
func get(t *testing.T, c *http.Client, addr, path string) probeResult {
	t.Helper()
	r, err := tryGet(c, addr, path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	return r
}

func tryGet(c *http.Client, addr, path string) (probeResult, error) {
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return probeResult{}, err
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return probeResult{}, err
	}
	return probeResult{code: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// byFormat returns the first instance of format f.
func byFormat(t *testing.T, fl *Fleet, f Format) Instance {
	t.Helper()
	for _, in := range fl.Instances() {
		if in.Format == f {
			return in
		}
	}
	t.Fatalf("no %s instance", f)
	return Instance{}
}

func mustSet(t *testing.T, f *Fleet, id string, s State) time.Time {
	t.Helper()
	at, err := f.Set(id, s)
	if err != nil {
		t.Fatalf("Set(%s, %s): %v", id, s, err)
	}
	return at
}
