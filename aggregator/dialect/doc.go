// Package dialect reads probe responses in the formats real systems speak
// (NVIDIA Dynamo, /healthz+/readyz engines, NativeLink, AMSDAL, plain status
// codes, CEL expressions over custom JSON) and turns each into a Verdict:
// pass, degraded, drain or fail, with a reason and components.
//
// Every dialect is one entry of the registry (registry.go): its name, how
// it reads a response and how the auto dialect recognises its bodies.
// Adding a dialect is adding an entry; tests then name what else must list
// it (config's accepted names, the upstreams constants, the README).
package dialect
