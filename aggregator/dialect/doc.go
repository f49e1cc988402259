// Package dialect reads probe responses in the formats real systems speak
// (NVIDIA Dynamo, /healthz+/readyz engines, NativeLink, AMSDAL, plain status
// codes, CEL expressions over custom JSON) and turns each into a Verdict:
// pass, degraded, drain or fail, with a reason and components.
package dialect
