package statedb

import (
	"fmt"
	"time"
)

// DamagedError is a state file that failed Open's checks. Open changed
// nothing: the file is as it was found.
type DamagedError struct {
	Path    string
	Problem string // what is wrong, e.g. "it is cut short: …"
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state file %s is damaged: %s", e.Path, e.Problem)
}

// LockedError is a state file another process kept locked for longer than
// Open would wait.
type LockedError struct {
	Path      string
	HolderPID int // 0 when unknown
	Waited    time.Duration
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.HolderPID > 0 {
		holder = fmt.Sprintf("another process (pid %d)", e.HolderPID)
	}
	return fmt.Sprintf("state file %s is locked by %s; gave up after waiting %s", e.Path, holder, e.Waited)
}
