package config_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigilhq/vigil/config"
)

const clusterWithFile = `clusters:
  - name: c
    readiness: {}
    instances:
      - address: 127.0.0.1:80
        id: inline
    instances_file: %s
`

func TestInstancesFileYAMLAndJSON(t *testing.T) {
	files := map[string]string{
		"workers.yaml": "# two workers\n- address: 127.0.0.1:81\n  zone: z1\n- address: 127.0.0.1:82\n  id: w2\n  weight: 3\n  meta: {k: v}\n",
		"workers.json": "[\n\t{\"address\": \"127.0.0.1:81\", \"zone\": \"z1\"},\n\t{\"address\": \"127.0.0.1:82\", \"id\": \"w2\", \"weight\": 3, \"meta\": {\"k\": \"v\"}}\n]\n",
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, name, content)
			cfgPath := writeFile(t, dir, "vigil.yaml", sprintf(clusterWithFile, name))
			c, err := config.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			cl := c.Clusters[0]
			if len(cl.Instances) != 1 || cl.Instances[0].ID != "inline" {
				t.Errorf("inline instances = %+v", cl.Instances)
			}
			want := []config.Instance{
				{Address: "127.0.0.1:81", ID: "127.0.0.1:81", Weight: 1, Zone: "z1"},
				{Address: "127.0.0.1:82", ID: "w2", Weight: 3, Meta: map[string]string{"k": "v"}},
			}
			if !reflect.DeepEqual(cl.FileInstances, want) {
				t.Errorf("file instances:\n got %+v\nwant %+v", cl.FileInstances, want)
			}
		})
	}
}

func TestInstancesFileProblemsNameThatFile(t *testing.T) {
	cases := map[string]struct {
		content string
		want    []string
	}{
		"workers.yaml": {
			content: "- address: 127.0.0.1:81\n- address: 127.0.0.1:81\n  weight: 0\n- adress: 127.0.0.1:83\n", //nolint:misspell // the typo is the input under test
			want: []string{
				`{dir}/workers.yaml:2: clusters[0].instances_file[1].address: duplicate address "127.0.0.1:81" (first at clusters[0].instances_file[0].address, line 1)`,
				`{dir}/workers.yaml:3: clusters[0].instances_file[1].weight: must be at least 1`,
				`{dir}/workers.yaml:4: clusters[0].instances_file[2].address: required (host:port)`,
				`{dir}/workers.yaml:4: clusters[0].instances_file[2].adress: unknown field (did you mean "address"?)`, //nolint:misspell // the typo under test
			},
		},
		"workers.json": {
			content: "[\n  {\"address\": \"127.0.0.1:81\"},\n  {\"address\": \"127.0.0.1:80\",\n   \"zonee\": \"z\"}\n]\n",
			want: []string{
				`{dir}/workers.json:3: clusters[0].instances_file[1].address: duplicate address "127.0.0.1:80" (first at clusters[0].instances[0].address, {dir}/vigil.yaml:5)`,
				`{dir}/workers.json:4: clusters[0].instances_file[1].zonee: unknown field (did you mean "zone"?)`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, name, tc.content)
			cfgPath := writeFile(t, dir, "vigil.yaml", sprintf(clusterWithFile, name))
			_, err := config.Load(cfgPath)
			lines := problemLines(t, err)
			if len(lines) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(lines), len(tc.want), join(lines))
			}
			for _, w := range tc.want {
				hasLine(t, lines, replaceDir(w, dir))
			}
		})
	}
}

func TestInstancesFileUnusable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "map.yaml", "instances:\n  - address: 127.0.0.1:81\n")
	writeFile(t, dir, "broken.json", "[{\"address\": \"127.0.0.1:81\",\n")
	writeFile(t, dir, "empty.yaml", "")
	for name, want := range map[string]string{
		"missing.yaml": `{dir}/vigil.yaml:7: clusters[0].instances_file: cannot read instances file: open {dir}/missing.yaml: no such file or directory`,
		"map.yaml":     `{dir}/map.yaml:1: clusters[0].instances_file: an instances file must hold a list of instances, got a mapping`,
		"broken.json":  `{dir}/broken.json:1: clusters[0].instances_file: invalid YAML: did not find expected node content`,
	} {
		t.Run(name, func(t *testing.T) {
			cfgPath := writeFile(t, dir, "vigil.yaml", sprintf(clusterWithFile, name))
			_, err := config.Load(cfgPath)
			lines := problemLines(t, err)
			if len(lines) != 1 || lines[0] != replaceDir(want, dir) {
				t.Errorf("problems:\n%s\nwant:\n%s", join(lines), replaceDir(want, dir))
			}
		})
	}
	t.Run("empty file has no instances", func(t *testing.T) {
		c, err := config.Load(writeFile(t, dir, "vigil.yaml", sprintf(clusterWithFile, "empty.yaml")))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Clusters[0].FileInstances) != 0 {
			t.Errorf("file instances = %+v", c.Clusters[0].FileInstances)
		}
	})
}

func TestInstancesFileRelativeToTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "conf")
	writeFile(t, dir, "abs.yaml", "- address: 127.0.0.1:90\n")
	if err := mkdir(sub); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sub, "rel.yaml", "- address: 127.0.0.1:91\n")
	for file, want := range map[string]string{
		"rel.yaml":                      "127.0.0.1:91",
		filepath.Join(dir, "abs.yaml"):  "127.0.0.1:90",
		filepath.Join("..", "abs.yaml"): "127.0.0.1:90",
	} {
		c, err := config.Load(writeFile(t, sub, "vigil.yaml", sprintf(clusterWithFile, file)))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := c.Clusters[0].FileInstances; len(got) != 1 || got[0].Address != want {
			t.Errorf("%s: file instances = %+v, want %s", file, got, want)
		}
	}
}
