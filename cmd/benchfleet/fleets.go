package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

// fleetPortBase is the first port of every fleet address; it sits below the
// kernel's ephemeral range so listeners never collide with client sockets.
const fleetPortBase = 20000

// fleetPerHost is how many instances share one loopback address.
const fleetPerHost = 1000

// fleetProc is one running fleetsim process.
type fleetProc struct {
	proc      *child
	control   string // control API host:port
	prefix    string // instance ID prefix
	instances []fleet.FileEntry
}

// benchFleet is the instances of one run: every fleet process, and all
// their instances in one list.
type benchFleet struct {
	fleets []*fleetProc
	all    []fleet.FileEntry
	owner  map[string]*fleetProc // instance ID -> its fleet
	client *http.Client
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // only its port was wanted
	return addr, nil
}

// startFleets starts ceil(n/perFleet) fleetsim processes with n instances
// in all, each on its own range of loopback addresses (127.<host>.0.1 on,
// host counting up from *hostSeq so no run reuses another's addresses),
// and waits until every one has written its instances file.
func startFleets(ctx context.Context, p *procs, opts *Options, n int, hostSeq *int, dir string) (*benchFleet, error) {
	bf := &benchFleet{owner: map[string]*fleetProc{}, client: &http.Client{Timeout: 30 * time.Second}}
	for i := 0; n > 0; i++ {
		k := min(n, opts.PerFleet)
		n -= k
		*hostSeq++
		if *hostSeq > 254 {
			return nil, fmt.Errorf("out of 127.x.0.0/16 ranges for fleets")
		}
		control, err := freePort()
		if err != nil {
			return nil, err
		}
		prefix := fmt.Sprintf("f%d-", *hostSeq)
		out := filepath.Join(dir, fmt.Sprintf("fleet-%d.json", i))
		argv := []string{opts.FleetBin, "-n", strconv.Itoa(k), "-formats", opts.Formats,
			"-host", fmt.Sprintf("127.%d.0.1", *hostSeq), "-port-base", strconv.Itoa(fleetPortBase),
			"-per-host", strconv.Itoa(fleetPerHost), "-id-prefix", prefix, "-control", control,
			"-instances-out", out, "-log-level", "warn"}
		c, err := p.start(fmt.Sprintf("fleetsim-%d", i), filepath.Join(dir, fmt.Sprintf("fleet-%d.log", i)), argv, nil)
		if err != nil {
			return nil, err
		}
		bf.fleets = append(bf.fleets, &fleetProc{proc: c, control: control, prefix: prefix})
		opts.Log.Info("fleet starting", "fleet", i, "instances", k, "host", argv[6], "control", control)
	}
	for i, f := range bf.fleets {
		out := filepath.Join(dir, fmt.Sprintf("fleet-%d.json", i))
		err := poll(ctx, 2*time.Minute, 50*time.Millisecond, "fleetsim instances file "+out, func() (bool, error) {
			if f.proc.exited() {
				return false, fmt.Errorf("fleetsim exited (%v); see %s", f.proc.err, f.proc.log.Name())
			}
			_, err := os.Stat(out)
			return err == nil, nil
		})
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, fmt.Errorf("read instances file: %w", err)
		}
		if err := json.Unmarshal(b, &f.instances); err != nil {
			return nil, fmt.Errorf("decode instances file %s: %w", out, err)
		}
		// The control API listens only after the instances file is written.
		err = poll(ctx, time.Minute, 20*time.Millisecond, "fleetsim control API", func() (bool, error) {
			resp, err := bf.client.Get("http://" + f.control + "/flips")
			if err != nil {
				return false, nil
			}
			_ = resp.Body.Close() // only the status is wanted
			return resp.StatusCode == http.StatusOK, nil
		})
		if err != nil {
			return nil, err
		}
		for _, e := range f.instances {
			bf.owner[e.ID] = f
		}
		bf.all = append(bf.all, f.instances...)
	}
	return bf, nil
}

// flip sets the given instances to state through their fleets' control
// APIs and returns the flips the fleets recorded.
func (bf *benchFleet) flip(ctx context.Context, ids []string, state fleet.State) ([]fleet.Flip, error) {
	byFleet := map[*fleetProc][]string{}
	for _, id := range ids {
		f := bf.owner[id]
		if f == nil {
			return nil, fmt.Errorf("flip: unknown instance %q", id)
		}
		byFleet[f] = append(byFleet[f], id)
	}
	var all []fleet.Flip
	for f, ids := range byFleet {
		body, err := json.Marshal(fleet.FlipRequest{IDs: ids, State: state})
		if err != nil {
			return nil, fmt.Errorf("flip: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.control+"/flip", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("flip: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := bf.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("flip %d instances to %s: %w", len(ids), state, err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // read to the end: nothing to lose
		if err != nil {
			return nil, fmt.Errorf("flip: read answer: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("flip %d instances to %s: %s: %s", len(ids), state, resp.Status, bytes.TrimSpace(b))
		}
		var flips []fleet.Flip
		if err := json.Unmarshal(b, &flips); err != nil {
			return nil, fmt.Errorf("flip: decode answer: %w", err)
		}
		all = append(all, flips...)
	}
	return all, nil
}
