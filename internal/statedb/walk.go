package statedb

import (
	"fmt"
	"strings"
)

// problem is one unreadable part of a file.
type problem struct {
	page   uint64
	bucket string // the bucket the page belongs to; "" for the top level
	what   string
}

func (p problem) String() string {
	where := "the top level"
	if p.bucket != "" {
		where = "bucket " + p.bucket
	}
	return fmt.Sprintf("page %d (%s): %s", p.page, where, p.what)
}

// visitor receives what a walk reads. path is the bucket's key path from
// the top level; the slices are only valid during the call.
type visitor struct {
	bucket func(path [][]byte, seq uint64)
	entry  func(path [][]byte, key, value []byte)
}

// walker reads a file's page tree with plain bounds-checked slicing of its
// bytes, so no damage can make it fault, panic or loop: every page is
// visited at most once. It records what it cannot read and goes on.
type walker struct {
	data     []byte
	h        header
	v        visitor
	seen     map[uint64]bool
	problems []problem
}

// walkTree reads every bucket and entry reachable from the meta's root.
func walkTree(data []byte, h header, v visitor) []problem {
	w := &walker{data: data, h: h, v: v, seen: map[uint64]bool{}}
	w.page(nil, h.root)
	return w.problems
}

func (w *walker) fail(path [][]byte, page uint64, format string, args ...any) {
	w.problems = append(w.problems, problem{page: page, bucket: pathString(path), what: fmt.Sprintf(format, args...)})
}

// extent returns the bytes of page id and its overflow pages, or why they
// cannot be read.
func (w *walker) extent(id uint64) ([]byte, string) {
	ps := uint64(w.h.pageSize)
	if id < 2 || id >= w.h.pgid {
		return nil, fmt.Sprintf("outside the file's pages 2-%d", w.h.pgid-1)
	}
	if id >= w.h.pages {
		return nil, "past the end of the file, which is cut short"
	}
	hdr := w.data[id*ps:]
	if got := order.Uint64(hdr); got != id {
		return nil, fmt.Sprintf("garbled: its header names page %d", got)
	}
	overflow := uint64(order.Uint32(hdr[12:]))
	if overflow >= w.h.pages-id {
		return nil, fmt.Sprintf("its %d overflow pages run past the file's last page %d", overflow, w.h.pages-1)
	}
	return w.data[id*ps : (id+1+overflow)*ps], ""
}

// page reads a page of the bucket at path, and everything below it.
func (w *walker) page(path [][]byte, id uint64) {
	if w.seen[id] {
		w.fail(path, id, "referenced twice (the tree loops)")
		return
	}
	b, why := w.extent(id)
	if why != "" {
		w.fail(path, id, "%s", why)
		return
	}
	for i := uint64(0); i*uint64(w.h.pageSize) < uint64(len(b)); i++ {
		w.seen[id+i] = true
	}
	switch flags := order.Uint16(b[8:]); flags {
	case branchPage:
		w.branch(path, id, b)
	case leafPage:
		w.leaf(path, id, b)
	default:
		w.fail(path, id, "not a branch or leaf page (flags %#x)", flags)
	}
}

func (w *walker) branch(path [][]byte, id uint64, b []byte) {
	n := int(order.Uint16(b[10:]))
	if n == 0 || pageHeaderSize+n*elementSize > len(b) {
		w.fail(path, id, "branch page with %d elements does not fit its %d bytes", n, len(b))
		return
	}
	for i := range n {
		e := pageHeaderSize + i*elementSize
		pos, ksize := uint64(order.Uint32(b[e:])), uint64(order.Uint32(b[e+4:]))
		if uint64(e)+pos+ksize > uint64(len(b)) {
			w.fail(path, id, "branch element %d points outside its page", i)
			continue
		}
		w.page(path, order.Uint64(b[e+8:]))
	}
}

// leaf reads the elements of a leaf page b (id 0: an inline bucket's page).
func (w *walker) leaf(path [][]byte, id uint64, b []byte) {
	n := int(order.Uint16(b[10:]))
	if pageHeaderSize+n*elementSize > len(b) {
		w.fail(path, id, "leaf page with %d elements does not fit its %d bytes", n, len(b))
		return
	}
	for i := range n {
		e := pageHeaderSize + i*elementSize
		flags := order.Uint32(b[e:])
		pos, ksize, vsize := uint64(order.Uint32(b[e+4:])), uint64(order.Uint32(b[e+8:])), uint64(order.Uint32(b[e+12:]))
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(b)) {
			w.fail(path, id, "leaf element %d points outside its page", i)
			continue
		}
		key, value := b[start:start+ksize], b[start+ksize:start+ksize+vsize]
		if flags&bucketLeafFlag == 0 {
			if w.v.entry != nil {
				w.v.entry(path, key, value)
			}
			continue
		}
		w.bucket(append(path[:len(path):len(path)], key), id, value)
	}
}

// bucket reads a nested bucket from its value in the parent's leaf page.
func (w *walker) bucket(path [][]byte, parent uint64, value []byte) {
	if len(value) < bucketHdrSize {
		w.fail(path, parent, "bucket header of %d bytes", len(value))
		return
	}
	root, seq := order.Uint64(value), order.Uint64(value[8:])
	if w.v.bucket != nil {
		w.v.bucket(path, seq)
	}
	if root != 0 {
		w.page(path, root)
		return
	}
	inline := value[bucketHdrSize:]
	if len(inline) < pageHeaderSize || order.Uint16(inline[8:]) != leafPage {
		w.fail(path, parent, "inline bucket without a leaf page")
		return
	}
	w.leaf(path, parent, inline)
}

// checkFreelist checks that the free list lies in the file and names only
// pages bbolt may reuse.
func checkFreelist(data []byte, h header) error {
	if h.freelist == noFreelist {
		return nil
	}
	w := &walker{data: data, h: h}
	b, why := w.extent(h.freelist)
	if why != "" {
		return fmt.Errorf("free list page %d: %s", h.freelist, why)
	}
	if flags := order.Uint16(b[8:]); flags != freelistPage {
		return fmt.Errorf("free list page %d: not a free list (flags %#x)", h.freelist, flags)
	}
	n, ids := uint64(order.Uint16(b[10:])), b[pageHeaderSize:]
	if n == 0xFFFF { // the real count is in the first slot
		if len(ids) < 8 {
			return fmt.Errorf("free list page %d: too short", h.freelist)
		}
		n, ids = order.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		return fmt.Errorf("free list page %d: %d entries do not fit its %d bytes", h.freelist, n, len(b))
	}
	for i := range n {
		if id := order.Uint64(ids[i*8:]); id < 2 || id >= h.pgid {
			return fmt.Errorf("free list page %d: frees page %d, outside pages 2-%d", h.freelist, id, h.pgid-1)
		}
	}
	return nil
}

func pathString(path [][]byte) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprintf("%q", p)
		if isPlain(p) {
			parts[i] = string(p)
		}
	}
	return strings.Join(parts, "/")
}

func isPlain(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == '/' {
			return false
		}
	}
	return len(b) > 0
}
