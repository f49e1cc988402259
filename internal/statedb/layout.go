package statedb

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// bbolt's on-disk format (version 2, unchanged since bbolt forked from
// boltdb): the facts this package needs to check a file with plain reads.
// Integers are in the machine's byte order, as bbolt writes them.
const (
	boltMagic   uint32 = 0xED0CDAED
	boltVersion uint32 = 2

	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elementSize    = 16 // a branch or leaf element
	bucketHdrSize  = 16 // a bucket value starts with root pgid u64, sequence u64

	branchPage   uint16 = 0x01
	leafPage     uint16 = 0x02
	metaPage     uint16 = 0x04
	freelistPage uint16 = 0x10

	bucketLeafFlag uint32 = 0x01 // a leaf element holding a nested bucket

	noFreelist = ^uint64(0) // the meta's freelist field when the free list is not synced

	// metaChecksummed is how many bytes of the meta (after the page
	// header) its checksum covers: every field before the checksum.
	metaChecksummed = 56
	metaSize        = metaChecksummed + 8
)

var order = binary.NativeEndian

// meta is one of the file's two meta pages.
type meta struct {
	pageSize uint32
	root     uint64 // root page of the top-level bucket tree
	rootSeq  uint64
	freelist uint64 // page of the free list, or noFreelist
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

// parseMeta reads the meta at b (a page, header included); it reports why
// the meta is not valid.
func parseMeta(b []byte) (meta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, fmt.Errorf("only %d bytes", len(b))
	}
	m := b[pageHeaderSize:]
	if got := order.Uint32(m[0:]); got != boltMagic {
		return meta{}, fmt.Errorf("no bbolt marker (magic %#x)", got)
	}
	if got := order.Uint32(m[4:]); got != boltVersion {
		return meta{}, fmt.Errorf("format version %d, want %d", got, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksummed])
	if sum := order.Uint64(m[metaChecksummed:]); sum != h.Sum64() {
		return meta{}, fmt.Errorf("checksum mismatch")
	}
	return meta{
		pageSize: order.Uint32(m[8:]),
		root:     order.Uint64(m[16:]),
		rootSeq:  order.Uint64(m[24:]),
		freelist: order.Uint64(m[32:]),
		pgid:     order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, nil
}

// header is what the file's meta pages say, and how much of it is there.
type header struct {
	meta
	pages uint64 // whole pages in the file; fewer than pgid when it is cut short
}

// readHeader finds the meta bbolt would use (the valid one with the higher
// transaction id) and checks that every page it counts is in the file.
func readHeader(data []byte) (header, error) {
	h, err := readMeta(data)
	if err != nil {
		return h, err
	}
	ps := uint64(h.pageSize)
	if h.pages < h.pgid {
		return header{}, fmt.Errorf("it is cut short: %d bytes, but its meta page counts %d pages of %d bytes (%d bytes)",
			len(data), h.pgid, ps, h.pgid*ps)
	}
	if h.root >= h.pgid {
		return header{}, fmt.Errorf("its meta page puts the root at page %d, outside pages 2-%d", h.root, h.pgid-1)
	}
	if h.freelist != noFreelist && h.freelist >= h.pgid {
		return header{}, fmt.Errorf("its meta page puts the free list at page %d, outside pages 2-%d", h.freelist, h.pgid-1)
	}
	return h, nil
}

// readMeta finds the meta bbolt would use, without checking it against
// the file's size.
func readMeta(data []byte) (header, error) {
	if len(data) == 0 {
		return header{}, fmt.Errorf("it is empty (0 bytes): whatever it held is gone")
	}
	m0, err0 := parseMeta(data)
	pageSize := 0
	if err0 == nil {
		pageSize = int(m0.pageSize)
	}
	// Without a valid first meta, look for the second one at every page
	// size bbolt could have used, as bbolt does.
	var m1 meta
	err1 := fmt.Errorf("not found")
	for ps := 1024; ps <= 1<<24 && err1 != nil; ps <<= 1 {
		if pageSize != 0 && ps != pageSize {
			continue
		}
		if ps+pageHeaderSize+metaSize > len(data) {
			break
		}
		m, err := parseMeta(data[ps:])
		if err == nil && int(m.pageSize) != ps {
			err = fmt.Errorf("says page size %d but sits at offset %d", m.pageSize, ps)
		}
		m1, err1 = m, err
	}
	var m meta
	switch {
	case err0 != nil && err1 != nil:
		return header{}, fmt.Errorf("neither meta page is valid (first: %v; second: %v)", err0, err1)
	case err0 == nil && err1 == nil && m1.txid > m0.txid:
		m = m1
	case err0 == nil:
		m = m0
	default:
		m = m1
	}
	ps := uint64(m.pageSize)
	if ps < 1024 || ps&(ps-1) != 0 {
		return header{}, fmt.Errorf("its meta page gives page size %d", ps)
	}
	if m.pgid < 3 || m.root < 2 || (m.freelist != noFreelist && m.freelist < 2) {
		return header{}, fmt.Errorf("its meta page is inconsistent (pages %d, root %d, free list %d)", m.pgid, m.root, m.freelist)
	}
	return header{meta: m, pages: min(m.pgid, uint64(len(data))/ps)}, nil
}
