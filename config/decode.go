package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into Go values strictly: unknown keys,
// duplicate keys and values of the wrong shape are reported with their line,
// and decoding carries on so that every problem is found in one pass. It
// records where each field path was written.
type decoder struct {
	file string
	c    *collector
}

const maxDepth = 64

var (
	durationType   = reflect.TypeFor[time.Duration]()
	statusListType = reflect.TypeFor[StatusList]()
)

func (d *decoder) errAt(n *yaml.Node, field, format string, args ...any) {
	d.c.undecodable[field] = true
	d.c.atPos(position{File: d.file, Line: n.Line}, field, format, args...)
}

// decode fills v (addressable) from n; path is v's field path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if depth > maxDepth {
		d.errAt(n, path, "nested too deeply")
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v, path, depth+1)
		return
	}
	if isNull(n) {
		return // an empty value leaves the default in place
	}
	t := v.Type()
	switch t {
	case durationType:
		d.duration(n, v, path)
		return
	case statusListType:
		d.statusList(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path, depth+1)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errAt(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.c.pos[p] = position{File: d.file, Line: item.Line}
			d.decode(item, s.Index(i), p, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		d.stringMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errAt(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.errAt(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, ok := d.integer(n, path, math.MinInt32, math.MaxInt32)
		if ok {
			v.SetInt(i)
		}
	case reflect.Uint32:
		i, ok := d.integer(n, path, 0, math.MaxUint32)
		if ok {
			v.SetUint(uint64(i))
		}
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.errAt(n, path, "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: no decoder for %s", t)) // programming error in the schema types
	}
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		d.errAt(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	if i < lo || i > hi {
		d.errAt(n, path, "%d is out of range (%d..%d)", i, lo, hi)
		return 0, false
	}
	return i, true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errAt(n, path, "expected a duration such as \"5s\", got %s", describe(n))
		return
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		d.errAt(n, path, "a bare number (%s) has no unit: write a duration such as \"%ss\" or \"%sms\"", n.Value, n.Value, n.Value)
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.errAt(n, path, "invalid duration %q: use a Go duration such as \"1.5s\", \"500ms\" or \"1m\"", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// statusList accepts a list of codes and range strings, or one string (or
// code) that may hold a comma-separated list.
func (d *decoder) statusList(n *yaml.Node, v reflect.Value, path string) {
	var out StatusList
	bad := false
	add := func(item *yaml.Node, p string) {
		if item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.errAt(item, p, "expected a status code or a range such as \"200-299\", got %s", describe(item))
			bad = true
			return
		}
		for _, part := range strings.Split(item.Value, ",") {
			out = append(out, strings.TrimSpace(part))
			d.c.pos[fmt.Sprintf("%s[%d]", path, len(out)-1)] = position{File: d.file, Line: item.Line}
		}
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			add(item, fmt.Sprintf("%s[%d]", path, len(out)))
		}
		if out == nil {
			out = StatusList{} // written but empty: validation reports it
		}
	case yaml.ScalarNode:
		add(n, path)
	default:
		d.errAt(n, path, "expected a list of status codes or a string such as \"200-299,301\", got %s", describe(n))
		return
	}
	if bad {
		d.c.undecodable[path] = true // the items' problems are reported; keep the inherited list
		return
	}
	v.Set(reflect.ValueOf(out))
}

func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.entries(n, path, 0) {
		k, val := kv[0], kv[1]
		if val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		p := path + "." + k.Value
		d.c.pos[p] = position{File: d.file, Line: k.Line}
		if val.Kind != yaml.ScalarNode {
			d.errAt(val, p, "expected a string value, got %s", describe(val))
			continue
		}
		value := val.Value
		if isNull(val) {
			value = ""
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(value))
	}
	v.Set(m)
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range d.entries(n, path, depth) {
		k, val := kv[0], kv[1]
		p := joinPath(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			msg := "unknown field"
			if s := suggest(k.Value, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errAt(k, p, "%s", msg)
			continue
		}
		d.c.pos[p] = position{File: d.file, Line: k.Line}
		d.decode(val, v.FieldByIndex(idx), p, depth+1)
	}
}

// entries lists a mapping's key/value pairs with YAML merge keys (<<)
// expanded: explicit keys win over merged ones. Duplicate explicit keys and
// non-scalar keys are reported.
func (d *decoder) entries(n *yaml.Node, path string, depth int) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, val)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errAt(k, joinPath(path, k.Value), "duplicate key (first written at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, val})
	}
	var merge func(m *yaml.Node, depth int)
	merge = func(m *yaml.Node, depth int) {
		if depth > maxDepth {
			return
		}
		switch m.Kind {
		case yaml.AliasNode:
			merge(m.Alias, depth+1)
		case yaml.SequenceNode:
			for _, item := range m.Content {
				merge(item, depth+1)
			}
		case yaml.MappingNode:
			for _, kv := range d.entries(m, path, depth+1) {
				if _, dup := seen[kv[0].Value]; dup {
					continue
				}
				seen[kv[0].Value] = kv[0].Line
				out = append(out, kv)
			}
		default:
			d.errAt(m, path, "<< must merge a mapping, got %s", describe(m))
		}
	}
	for _, m := range merges {
		merge(m, depth)
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what a node holds, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return describe(n.Alias)
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// yamlFields maps the yaml keys of a struct type (embedded ",inline" structs
// flattened) to field indexes.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			if opts == "inline" {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				continue
			}
			out[name] = idx
		}
	}
	walk(t, nil)
	return out
}

// suggest returns the known key closest to an unknown one, if close enough to
// be a likely typo.
func suggest(key string, fields map[string][]int) string {
	best, bestDist := "", 3
	for name := range fields {
		dist := editDistance(strings.ToLower(key), name)
		if dist < bestDist || (dist == bestDist && name < best) {
			best, bestDist = name, dist
		}
	}
	if bestDist > len(key)/2 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
