//go:build !unix

package statedb

import "os"

// tryLock is a no-op here: bbolt takes its own lock when it opens the file.
func tryLock(*os.File) error { return nil }

// dupFile opens f's file again for bbolt.
func dupFile(f *os.File) (*os.File, error) { return os.OpenFile(f.Name(), os.O_RDWR, 0) }
