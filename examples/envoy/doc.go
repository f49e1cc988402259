// Package envoy holds the Envoy bootstrap of the docker-compose demo
// (envoy.yaml) and the test that parses it into Envoy's Bootstrap proto and
// validates it.
package envoy
