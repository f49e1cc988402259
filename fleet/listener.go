package fleet

import "net"

// trackedListener is an instance's listener. Every accepted connection is
// registered with the instance so that going dead can close it.
type trackedListener struct {
	net.Listener
	inst *instance
}

// liveConn is an accepted connection as its instance tracks it.
type liveConn interface {
	// kill ends the connection at once (the instance went dead or the
	// fleet is closing). Called with the instance's mu held.
	kill()
}

// register adds c to the instance's connections, unless ln has meanwhile
// been retired (the instance went dead): then it reports false.
func (in *instance) register(ln *trackedListener, c liveConn) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ln != ln {
		return false
	}
	in.conns[c] = struct{}{}
	return true
}
