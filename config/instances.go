package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"gopkg.in/yaml.v3"
)

// finishInstances reads the cluster's instances file, defaults every
// instance and checks them, including uniqueness of ids and addresses across
// both sources.
func (c *Config) finishInstances(col *collector, base string, cl *Cluster) {
	cl.FileInstances = nil
	if cl.InstancesFile != "" {
		cl.FileInstances = c.readInstancesFile(col, base+".instances_file", cl.InstancesFile)
	}
	ids := map[string]string{}
	addrs := map[string]string{}
	check := func(prefix string, list []Instance) {
		for i := range list {
			field := fmt.Sprintf("%s[%d]", prefix, i)
			in := &list[i]
			idGiven := in.ID != ""
			finishInstance(col, field, in)
			if in.Address == "" {
				continue
			}
			if first, dup := addrs[in.Address]; dup {
				col.at(field+".address", "duplicate address %q (first at %s)", in.Address, where(col, first, field+".address"))
			} else {
				addrs[in.Address] = field + ".address"
			}
			if !idGiven && in.ID == in.Address {
				if _, dup := ids[in.ID]; dup {
					continue // already reported as a duplicate address
				}
			}
			if first, dup := ids[in.ID]; dup {
				col.at(field+".id", "duplicate instance id %q (first at %s)", in.ID, where(col, first, field+".id"))
			} else {
				ids[in.ID] = field + ".id"
			}
		}
	}
	check(base+".instances", cl.Instances)
	check(base+".instances_file", cl.FileInstances)
}

func finishInstance(col *collector, field string, in *Instance) {
	if in.Address == "" {
		col.at(field+".address", "required (host:port)")
	} else if msg := hostPortProblem(in.Address); msg != "" {
		col.at(field+".address", "%s", msg)
	}
	if in.ID == "" {
		in.ID = in.Address
	}
	if in.Weight == 0 {
		if col.set(field + ".weight") {
			col.at(field+".weight", "must be at least 1")
		}
		in.Weight = DefaultWeight
	}
	for k := range in.Meta {
		if k == "" {
			col.at(field+".meta", "keys must not be empty")
		}
	}
}

// readInstancesFile reads a YAML or JSON list of instances. Its problems are
// reported against that file and its lines.
func (c *Config) readInstancesFile(col *collector, field, name string) []Instance {
	path, data, ok := c.readFile(col, field, "cannot read instances file", name)
	if !ok {
		return nil
	}
	root, perr := parseYAML(path, data)
	if perr != nil {
		perr.Field = field
		col.add(*perr)
		return nil
	}
	if root == nil {
		return nil
	}
	if root.Kind != yaml.SequenceNode {
		col.atPos(position{File: path, Line: root.Line}, field, "an instances file must hold a list of instances, got %s", describe(root))
		return nil
	}
	var list []Instance
	d := &decoder{file: path, c: col}
	d.decode(root, reflect.ValueOf(&list).Elem(), field, 0)
	return list
}

// readFile reads a file the configuration names at field, relative to the
// configuration's directory; a failure is reported as "<what>: <error>".
func (c *Config) readFile(col *collector, field, what, name string) (path string, data []byte, ok bool) {
	path = name
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.Dir, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		col.at(field, "%s: %v", what, err)
		return path, nil, false
	}
	return path, data, true
}
