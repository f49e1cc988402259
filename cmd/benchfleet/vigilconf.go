package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilhq/vigil/fleet"
)

// vigilSetup is what benchfleet told vigil: where it listens and which
// clusters it probes.
type vigilSetup struct {
	configPath string
	admin, xds string
	clusters   []string // one per fleet format, named after it
}

// writeVigilConfig writes one instances file per format and a vigil config
// probing liveness and readiness of every instance with opts' timing.
func writeVigilConfig(dir string, opts *Options, instances []fleet.FileEntry) (*vigilSetup, error) {
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	xdsAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	type entry struct {
		ID      string `json:"id"`
		Address string `json:"address"`
	}
	byFormat := map[fleet.Format][]entry{}
	for _, in := range instances {
		f := fleet.Format(in.Meta["format"])
		byFormat[f] = append(byFormat[f], entry{ID: in.ID, Address: in.Address})
	}
	s := &vigilSetup{configPath: filepath.Join(dir, "vigil.yaml"), admin: admin, xds: xdsAddr}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by benchfleet.
admin: {listen: %q}
xds: {listen: %q}
state_dir: %q
drain_period: 0s
defaults:
  interval: %s
  unhealthy_interval: %s
  timeout: %s
  jitter_percent: %d
  healthy_threshold: %d
  unhealthy_threshold: %d
  initial_status: unknown
clusters:
`, admin, xdsAddr, filepath.Join(dir, "vigil-state"), opts.Interval, opts.Interval, opts.Timeout, opts.Jitter, opts.Rise, opts.Fall)
	for _, f := range fleet.HTTPFormats() {
		list := byFormat[f]
		if len(list) == 0 {
			continue
		}
		name := string(f)
		file := "instances-" + name + ".json"
		data, err := json.Marshal(list)
		if err != nil {
			return nil, fmt.Errorf("instances of %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return nil, fmt.Errorf("instances of %s: %w", name, err)
		}
		live, ready := f.Paths()
		fmt.Fprintf(&b, "  - name: %s\n    dialect: %s\n    liveness: {path: %q}\n    readiness: {path: %q}\n    instances_file: %s\n",
			name, f.Dialect(), live, ready, file)
		s.clusters = append(s.clusters, name)
	}
	if len(s.clusters) == 0 {
		return nil, fmt.Errorf("no HTTP instances to probe (grpc is not benchmarked)")
	}
	if len(byFormat) > len(s.clusters) {
		return nil, fmt.Errorf("the fleet serves formats benchfleet does not probe: use HTTP formats only")
	}
	if err := os.WriteFile(s.configPath, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("vigil config: %w", err)
	}
	return s, nil
}
