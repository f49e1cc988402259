package fleet

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// FileEntry is one instance as listed in an instances file.
type FileEntry struct {
	ID      string            `json:"id" yaml:"id"`
	Address string            `json:"address" yaml:"address"`
	Meta    map[string]string `json:"meta" yaml:"meta"`
}

// FileEntries turns instances into instances-file entries. Meta holds
// "format" and, for HTTP formats, "dialect", "liveness_path" and
// "readiness_path".
func FileEntries(insts []Instance) []FileEntry {
	out := make([]FileEntry, len(insts))
	for i, in := range insts {
		meta := map[string]string{"format": string(in.Format)}
		if d := in.Format.Dialect(); d != "" {
			meta["dialect"] = string(d)
		}
		if in.LivenessPath != "" {
			meta["liveness_path"] = in.LivenessPath
		}
		if in.ReadinessPath != "" {
			meta["readiness_path"] = in.ReadinessPath
		}
		out[i] = FileEntry{ID: in.ID, Address: in.Address, Meta: meta}
	}
	return out
}

// MarshalInstancesFile encodes instances as a top-level list of entries
// {id, address, meta}, in JSON or else YAML.
func MarshalInstancesFile(insts []Instance, asJSON bool) ([]byte, error) {
	entries := FileEntries(insts)
	var (
		b   []byte
		err error
	)
	if asJSON {
		b, err = json.MarshalIndent(entries, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(entries)
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: encode instances file: %w", err)
	}
	return b, nil
}
