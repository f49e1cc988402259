// Package config reads vigil's YAML configuration strictly: unknown keys,
// malformed values and inconsistent settings are all reported at once as a
// *Errors, one "FILE:LINE: field.path: why" line per problem.
//
// Load and Parse decode, default and validate a file. The configuration
// types are plain structs with yaml tags, so a Config can also be built in Go
// (start from Default) and then defaulted and validated with Finish. After
// either, every probe carries its resolved settings (defaults -> cluster ->
// probe inheritance applied) and every instance its defaulted id and weight;
// upstreams.FromConfig turns the result into the probing model.
package config
