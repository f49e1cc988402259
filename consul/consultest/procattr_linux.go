package consultest

import "syscall"

// procAttr kills the agent if the test process dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
