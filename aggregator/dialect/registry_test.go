package dialect

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/upstreams"
)

func registered() []string {
	var names []string
	for _, n := range Names() {
		names = append(names, string(n))
	}
	slices.Sort(names)
	return names
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Configuration validation takes its dialects from the registry: through
// ConfigOption every registered name is accepted, and any other is refused
// at its line with the registry's names.
func TestConfigOptionChecksAgainstTheRegistry(t *testing.T) {
	const cluster = "clusters:\n  - name: web\n    instances: [{id: a, address: 127.0.0.1:80}]\n    readiness:\n      dialect: %s\n%s"
	for _, name := range registered() {
		extra := ""
		if name == string(upstreams.DialectCEL) {
			extra = "      cel: {pass: 'status == 200'}\n"
		}
		if _, err := config.Parse("vigil.yaml", fmt.Appendf(nil, cluster, name, extra), ConfigOption()); err != nil {
			t.Errorf("dialect %s refused: %v", name, err)
		}
	}
	_, err := config.Parse("vigil.yaml", fmt.Appendf(nil, cluster, "xml", ""), ConfigOption())
	if err == nil {
		t.Fatal("dialect xml accepted")
	}
	want := `vigil.yaml:5: clusters[0].readiness.dialect: "xml" is not one of ` + strings.Join(namesInOrder(), ", ")
	if !strings.Contains(err.Error(), want) {
		t.Errorf("dialect xml refused with\n%v\nwant a line\n%s", err, want)
	}
	_, err = config.Parse("vigil.yaml", fmt.Appendf(nil, cluster, "cel", "      cel: {pass: 'status =='}\n"), ConfigOption())
	if err == nil || !strings.Contains(err.Error(), "clusters[0].readiness.cel.pass: does not compile") {
		t.Errorf("a CEL expression that does not compile: %v", err)
	}
}

func namesInOrder() []string {
	var out []string
	for _, n := range Names() {
		out = append(out, string(n))
	}
	return out
}

// Every upstreams.Dialect constant names a registered dialect, and every
// registered dialect has one.
func TestUpstreamsConstantsAreTheRegisteredDialects(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../upstreams/model.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Dialect" {
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Fatalf("upstreams: constant %s is not a string literal", vs.Names[0].Name)
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			consts = append(consts, v)
		}
		return true
	})
	if got, want := sorted(consts), registered(); !slices.Equal(got, want) {
		t.Errorf("upstreams declares Dialect constants %v, the registry holds %v", got, want)
	}
	for _, d := range []upstreams.Dialect{"", "nosuch"} {
		if _, ok := lookup(d); ok != (d == "") {
			t.Errorf("lookup(%q) = %v", d, ok)
		}
	}
}

// The README's dialect table, the dialect list of its configuration
// example and the one of examples/vigil.yaml name exactly the registered
// dialects.
func TestREADMEListsExactlyTheRegisteredDialects(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Dialects")
	if start < 0 {
		t.Fatal(`README.md has no "## Dialects" section`)
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var table []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)` \\|").FindAllStringSubmatch(section, -1) {
		table = append(table, m[1])
	}
	if got, want := sorted(table), registered(); !slices.Equal(got, want) {
		t.Errorf("the README's dialect table lists %v, the registry holds %v", got, want)
	}

	m := regexp.MustCompile(`(?m)^\s*dialect: auto\s+# (.*)$`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("the README's configuration example has no `dialect: auto  # ...` line")
	}
	listed := strings.Split(m[1], " | ")
	for i := range listed {
		listed[i] = strings.TrimSpace(listed[i])
	}
	if got, want := sorted(listed), registered(); !slices.Equal(got, want) {
		t.Errorf("the README's configuration example lists dialects %v, the registry holds %v", got, want)
	}

	example, err := os.ReadFile("../../examples/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`(?m)^\s*dialect: \w+\s+# \[auto\] ([a-z|]+)`).FindStringSubmatch(string(example))
	if m == nil {
		t.Fatal("examples/vigil.yaml has no `dialect: ...  # [auto] a|b|...` line")
	}
	if got, want := sorted(strings.Split(m[1], "|")), registered(); !slices.Equal(got, want) {
		t.Errorf("examples/vigil.yaml lists dialects %v, the registry holds %v", got, want)
	}
}
