// Package e2e holds the failure tests of replicated vigil (issue 15):
// three vigil binaries against a real Consul agent (bin/consul) and real
// HTTP instances, watched the way consumers see them: every replica's EDS
// through an ADS stream and the Consul catalog through ?passing blocking
// queries. It has no code of its own besides this comment.
package e2e
