package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Option adjusts how a configuration is checked.
type Option func(*options)

type options struct {
	// dialects are the names a probe may give; nil when no registry was
	// given (see WithDialects).
	dialects  []string
	checkExpr func(expr string) error
}

// WithDialects checks the configuration against the dialect registry, which
// lives with the prober (aggregator/dialect: dialect.ConfigOption) and which
// config cannot import: every dialect name must be one of names, and every
// CEL expression is compiled by checkCEL, so that a problem is reported at
// its line. Without it a dialect name is only checked for its form, and the
// prober refuses an unknown one when it builds the probe (vigil does not
// start, a reload is rejected).
func WithDialects(names []string, checkCEL func(expr string) error) Option {
	return func(o *options) { o.dialects, o.checkExpr = slices.Clone(names), checkCEL }
}

// knownDialect reports whether a probe may name dialect d.
func (o *options) knownDialect(d string) bool {
	if o.dialects == nil {
		return namePattern.MatchString(d)
	}
	return oneOf(d, o.dialects)
}

// dialectProblem says why d is no dialect.
func (o *options) dialectProblem(d string) string {
	if o.dialects == nil {
		return fmt.Sprintf("%q is not a dialect name", d)
	}
	return enumMsg(d, o.dialects)
}

// Load reads, defaults and validates the configuration file at path. A
// configuration with problems yields a *Errors listing all of them.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, opts...)
}

// Parse decodes, defaults and validates a configuration held in data; name is
// the file name used in errors, and relative paths inside the configuration
// resolve against its directory. A configuration with problems yields a
// *Errors listing all of them; so does an empty one (whitespace, comments
// or a null document), which is never a usable configuration.
func Parse(name string, data []byte, opts ...Option) (*Config, error) {
	c := &Config{File: name, Dir: filepath.Dir(name), pos: map[string]position{}, parsed: true}
	col := newCollector(name, c.pos)
	var root *yaml.Node
	if len(bytes.TrimSpace(data)) > 0 { // YAML rejects a tab-indented blank line; it is still blank
		var perr *Error
		if root, perr = parseYAML(name, data); perr != nil {
			col.add(*perr)
			return nil, col.err()
		}
	}
	if root == nil || isNull(root) {
		// Serving nothing on default ports is never what was meant: most
		// likely the wrong file, or one truncated on its way.
		col.add(Error{File: name, Msg: "the configuration is empty (nothing but whitespace or comments): " +
			"it needs at least one cluster (see examples/vigil.yaml)"})
		return nil, col.err()
	}
	d := &decoder{file: name, c: col}
	d.decode(root, reflect.ValueOf(c).Elem(), "", 0)
	if root.Kind != yaml.MappingNode {
		return nil, col.err() // decode said so; nothing else in it means anything
	}
	c.finish(col, opts)
	if err := col.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Finish fills in defaults, reads instances files and validates the
// configuration, so a Config built in Go is ready to use. Parse and Load call
// it; calling it again is harmless. Problems are returned as a *Errors.
func (c *Config) Finish(opts ...Option) error {
	col := newCollector(c.File, c.pos)
	c.pos = col.pos
	c.finish(col, opts)
	return col.err()
}

func (c *Config) finish(col *collector, opts []Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c.applyGlobalDefaults()
	c.validateGlobal(col)
	c.finishClusters(col, &o)
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document; an empty document yields nil.
func parseYAML(name string, data []byte) (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(name, err)
		}
		return nil, &Error{File: name, Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

func syntaxError(name string, err error) *Error {
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "invalid YAML: " + err.Error()}
}
