// Package replicas holds the example of three vigil replicas on one
// machine against a local Consul agent (README.md), and the test that
// checks their configs.
package replicas
