// Package consultest runs a real Consul agent (`consul agent -dev`) on
// loopback with free ports and a temporary data dir, for tests that talk to
// Consul. The agent binary is bin/consul, built by scripts/consul.sh.
package consultest
