// Package statedb opens the bbolt files vigil keeps in its state_dir without
// ever letting a damaged file crash it or silently lose what it held.
//
// bbolt maps the file into memory and trusts what it reads there: a file
// cut short makes a read fault (SIGBUS), and garbage in a page trips an
// assertion. So before bbolt maps a file, Open reads it with plain reads
// and checks its layout (meta pages, the page tree of every bucket, the
// free list) against the file's real size; only a file that passes is
// handed to bbolt, whose own consistency check then runs. A damaged file is
// refused with a DamagedError naming the file and what is wrong; with
// Options.Recover, what can still be read is copied into a fresh file and
// the damaged one is kept next to it. Open holds the file's lock for as
// long as the database is open, and waits a bounded time for another
// process holding it.
//
// Open validates and recovers every bucket of the file, so any store kept
// in the same file (drains today, more later) shares this path.
package statedb
