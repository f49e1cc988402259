package fleet

import (
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestInstancesFile checks both encodings list id, address and meta.format.
func TestInstancesFile(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 3, Formats: []Format{FormatHealthz, FormatGRPC, FormatAMSDAL}})
	insts := f.Instances()
	for _, asJSON := range []bool{false, true} {
		b, err := MarshalInstancesFile(insts, asJSON)
		if err != nil {
			t.Fatal(err)
		}
		var got []FileEntry
		if asJSON {
			err = json.Unmarshal(b, &got)
		} else {
			err = yaml.Unmarshal(b, &got)
		}
		if err != nil {
			t.Fatalf("decode (json=%v): %v\n%s", asJSON, err, b)
		}
		if len(got) != 3 {
			t.Fatalf("%d entries, want 3", len(got))
		}
		for i, e := range got {
			if e.ID != insts[i].ID || e.Address != insts[i].Address || e.Meta["format"] != string(insts[i].Format) {
				t.Errorf("entry %d = %+v, want %+v", i, e, insts[i])
			}
		}
		if got[0].Meta["readiness_path"] != "/readyz" || got[0].Meta["dialect"] != "healthz" || got[1].Meta["readiness_path"] != "" || got[1].Meta["dialect"] != "" {
			t.Errorf("paths in meta: %v %v", got[0].Meta, got[1].Meta)
		}
	}
}
