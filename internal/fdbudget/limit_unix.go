//go:build unix

package fdbudget

import (
	"fmt"
	"syscall"
)

// ProcessLimit reads this process's open-file limit. Go raises the soft
// limit to the hard one when a program starts (on Linux and most other
// Unix systems), so soft is normally equal to hard here: vigil does not
// raise it again, it reports both.
func ProcessLimit() (soft, hard int, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("open-file limit (getrlimit RLIMIT_NOFILE): %w", err)
	}
	return clampLimit(rl.Cur), clampLimit(rl.Max), nil
}

// clampLimit turns a limit into an int; "unlimited" and values past the
// int range become the largest int.
func clampLimit(v uint64) int {
	const maxInt = int(^uint(0) >> 1)
	if v > uint64(maxInt) {
		return maxInt
	}
	return int(v)
}
