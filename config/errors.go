package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a configuration.
type Error struct {
	File  string // file the problem is in; empty for a Config built in Go
	Line  int    // 1-based line; 0 when unknown
	Field string // field path such as clusters[1].readiness.timeout; may be empty
	Msg   string // why the value is wrong
}

// String formats the problem as FILE:LINE: FIELD: why, leaving out the parts
// that are unknown.
func (e Error) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration. Its Error method prints
// one problem per line.
type Errors struct {
	List []Error
}

// Error implements error.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, p := range e.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// position is where a value was written.
type position struct {
	File string
	Line int
}

// collector gathers problems and knows where each field path was written.
type collector struct {
	file string              // main config file name
	pos  map[string]position // field path -> where it was written
	list []Error
	seen map[Error]bool
	// undecodable holds fields whose value could not be decoded; later
	// checks of those fields stay quiet rather than repeat the problem.
	undecodable map[string]bool
}

func newCollector(file string, pos map[string]position) *collector {
	if pos == nil {
		pos = map[string]position{}
	}
	return &collector{file: file, pos: pos, seen: map[Error]bool{}, undecodable: map[string]bool{}}
}

// at reports a problem about a field, locating it at the field or, when the
// field was not written, at the closest enclosing field that was.
func (c *collector) at(field, format string, args ...any) {
	if c.undecodable[field] {
		return
	}
	p := c.lookup(field)
	c.add(Error{File: p.File, Line: p.Line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// atPos reports a problem at an explicit position.
func (c *collector) atPos(p position, field, format string, args ...any) {
	c.add(Error{File: p.File, Line: p.Line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) add(e Error) {
	if c.seen[e] {
		return
	}
	c.seen[e] = true
	c.list = append(c.list, e)
}

// set reports whether field was written in a file.
func (c *collector) set(field string) bool {
	_, ok := c.pos[field]
	return ok
}

// lookup finds where field, or its nearest written ancestor, is.
func (c *collector) lookup(field string) position {
	for f := field; f != ""; f = parentPath(f) {
		if p, ok := c.pos[f]; ok {
			return p
		}
	}
	return position{File: c.file}
}

// parentPath drops the last element of a field path: a.b[2].c -> a.b[2] ->
// a.b -> a -> "".
func parentPath(f string) string {
	if strings.HasSuffix(f, "]") {
		if i := strings.LastIndexByte(f, '['); i >= 0 {
			return f[:i]
		}
	}
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		return f[:i]
	}
	return ""
}

// err returns the collected problems sorted by file (in order of first
// appearance) and line, or nil when there are none.
func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	order := map[string]int{c.file: 0}
	for _, e := range c.list {
		if _, ok := order[e.File]; !ok {
			order[e.File] = len(order)
		}
	}
	list := append([]Error(nil), c.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		return a.Line < b.Line
	})
	return &Errors{List: list}
}
