package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFailSafePutsBackWithThresholdOne: the real vigil binary with
// unhealthy_threshold 1 against a fleetsim process serving three clusters,
// which is SIGKILLed. An instance now leaves on its first refused probe,
// before the fail-safe has seen enough onsets to trip, so state-of-the-world
// and delta ADS clients do see some instances UNHEALTHY. Watched moment by
// moment: every such spell ends within the trip's window (the trip puts
// the instance back, held), none begins after the trip, and all are
// HEALTHY and held until the fleet returns, then HEALTHY and not held.
func TestFailSafePutsBackWithThresholdOne(t *testing.T) {
	dir := t.TempDir()
	clusters := []string{"pb-a", "pb-b", "pb-c"}
	const perCluster = 10
	fp := &fleetProcess{t: t, host: fmt.Sprintf("127.%d.%d.1", 20+rand.IntN(200), rand.IntN(250)),
		port: 20000 + rand.IntN(20000), n: perCluster * len(clusters), stderrPath: filepath.Join(dir, "fleetsim.log")}
	fp.start()
	t.Cleanup(fp.kill)

	admin, xdsAddr := freeAddr(t), freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin: {listen: %q}\nxds: {listen: %q}\nstate_dir: %q\ndrain_period: 0s\n", admin, xdsAddr, filepath.Join(dir, "state"))
	cfg.WriteString("defaults: {interval: 1s, timeout: 500ms, jitter_percent: 10, healthy_threshold: 2, unhealthy_threshold: 1}\nclusters:\n")
	for c, name := range clusters {
		fmt.Fprintf(&cfg, "  - name: %s\n    readiness: {path: /ready, dialect: status}\n    instances:\n", name)
		for i := range perCluster {
			fmt.Fprintf(&cfg, "      - {id: %s-%d, address: %q}\n", name, i, fp.addr(c*perCluster+i))
		}
	}
	confPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(confPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "serve", "-config", confPath, "-log-format", "text")
	base := "http://" + admin
	waitHTTP(t, base+"/readyz", 200, 30*time.Second)
	everyInstance := func(what string, ok func(apiInstance) bool) {
		t.Helper()
		waitUntil(t, 20*time.Second, what, func() bool {
			for _, c := range clusters {
				insts, err := apiInstances(base, c)
				if err != nil || len(insts) != perCluster {
					return false
				}
				for _, in := range insts {
					if !ok(in) {
						return false
					}
				}
			}
			return true
		})
	}
	everyInstance("every instance HEALTHY", func(in apiInstance) bool { return in.Status == "HEALTHY" && !in.Held })
	seen := &sightings{}
	watchEDS(t, xdsAddr, clusters, seen)
	waitUntil(t, 10*time.Second, "both ADS clients hold every assignment", func() bool {
		for _, src := range []string{"sotw", "delta"} {
			for _, c := range clusters {
				if v, ok := seen.latest(src, c); !ok || len(v.health) != perCluster {
					return false
				}
			}
		}
		return true
	})

	killedAt := time.Now()
	fp.kill()
	var rb readyzBody
	waitUntil(t, 20*time.Second, "/readyz naming the fail-safe", func() bool {
		code, err := getJSONURL(base+"/readyz", &rb)
		return err == nil && code == 503 && strings.HasPrefix(rb.Checks["fail_safe"], "holding: ")
	})
	trippedBy := time.Now() // the trip happened before this
	everyInstance("every instance HEALTHY and held", func(in apiInstance) bool {
		return in.Status == "HEALTHY" && in.Held && in.HeldCause != nil && *in.HeldCause == "fail_safe"
	})
	time.Sleep(3 * time.Second) // more rounds of refused probes, still held

	// Each EDS client's view, sighting by sighting: the spells in which
	// an endpoint was not HEALTHY.
	const window = 1100*time.Millisecond + 500*time.Millisecond // interval with its jitter, plus the timeout
	spells := 0
	for _, src := range []string{"sotw", "delta"} {
		out := map[string]time.Time{} // endpoint -> since when it is not HEALTHY
		for _, v := range seen.since(killedAt) {
			if v.source != src {
				continue
			}
			for addr, h := range v.health {
				key := v.cluster + "/" + addr
				began, isOut := out[key]
				switch {
				case h != "HEALTHY" && !isOut:
					out[key] = v.at
					spells++
					if v.at.After(trippedBy) {
						t.Errorf("%s: %s left rotation %s after the kill, after the trip", src, key, v.at.Sub(killedAt).Round(time.Millisecond))
					}
				case h == "HEALTHY" && isOut:
					delete(out, key)
					if d := v.at.Sub(began); d > window+time.Second {
						t.Errorf("%s: %s out of rotation for %s, longer than the trip's window", src, key, d.Round(time.Millisecond))
					}
				}
			}
		}
		for key, began := range out {
			t.Errorf("%s: %s left rotation %s after the kill and was never put back", src, key, began.Sub(killedAt).Round(time.Millisecond))
		}
	}
	if spells == 0 {
		t.Fatal("no endpoint left rotation before the trip: the test no longer shows putting back")
	}
	t.Logf("%d spells out of rotation seen by the two ADS clients, all ended by the trip (%s)", spells, rb.Checks["fail_safe"])

	backAt := time.Now()
	fp.start()
	waitUntil(t, 20*time.Second, "the release", func() bool {
		code, err := getJSONURL(base+"/readyz", &rb)
		return err == nil && code == 200 && rb.Checks["fail_safe"] == "ok"
	})
	everyInstance("every instance HEALTHY, nothing held", func(in apiInstance) bool { return in.Status == "HEALTHY" && !in.Held })
	time.Sleep(2 * time.Second)
	for _, v := range seen.since(backAt) {
		for addr, h := range v.health {
			if h != "HEALTHY" {
				t.Errorf("%s after the fleet came back: %s/%s %s", v.source, v.cluster, addr, h)
			}
		}
	}
}
