//go:build !linux

package statedb

import "os"

// lockHolder cannot tell the holder's pid on this system.
func lockHolder(*os.File) int { return 0 }
