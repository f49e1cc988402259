package dialect

import (
	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/upstreams"
)

// def is one dialect: its name and how it reads a response.
type def struct {
	name upstreams.Dialect
	// read judges a response. nil for auto, which reads each response
	// with the dialect that recognises its body (see autoReader).
	read reader
	// json: bodies are parsed before read sees them, and read fails a body
	// that does not parse.
	json bool
	// recognise tells auto that a parsed body (an object or an array) is
	// this dialect's; status is an object's "status" string. nil: auto
	// never picks this dialect.
	recognise func(v *fastjson.Value, status []byte) bool
	// custom builds the evaluator of a dialect that does not go through
	// read (cel).
	custom func(f *Factory, p *upstreams.Probe, expected upstreams.StatusSet) (Evaluator, error)
}

// registry is every dialect vigil speaks, and the one place to add one:
// Factory.New builds evaluators from it, auto tries its recognisers in
// this order (an AMSDAL body would also pass for healthz), and config
// validation takes its names from it (ConfigOption). The upstreams.Dialect
// constants name dialects for code; tests hold them, the README's dialect
// table and the example configurations to the registry.
var registry = [...]def{
	{name: upstreams.DialectAuto, json: true},
	{name: upstreams.DialectStatus, read: readStatus},
	{name: upstreams.DialectNativeLink, read: readNativeLink, json: true, recognise: isNativeLink},
	{name: upstreams.DialectAMSDAL, read: readAMSDAL, json: true, recognise: isAMSDAL},
	{name: upstreams.DialectHealthz, read: readHealthz, json: true, recognise: isHealthz},
	{name: upstreams.DialectDynamo, read: readDynamo, json: true, recognise: isDynamo},
	{name: upstreams.DialectCEL, custom: (*Factory).newCEL},
}

// Names lists the registered dialects, in registry order.
func Names() []upstreams.Dialect {
	names := make([]upstreams.Dialect, len(registry))
	for i := range registry {
		names[i] = registry[i].name
	}
	return names
}

// ConfigOption has config.Load and Parse check a configuration against the
// registry: dialect names, and CEL expressions compiled as the cel dialect
// will compile them.
func ConfigOption() config.Option {
	names := make([]string, len(registry))
	for i := range registry {
		names[i] = string(registry[i].name)
	}
	return config.WithDialects(names, CheckCEL)
}

// lookup finds a dialect by name; "" is auto.
func lookup(name upstreams.Dialect) (*def, bool) {
	if name == "" {
		name = upstreams.DialectAuto
	}
	for i := range registry {
		if registry[i].name == name {
			return &registry[i], true
		}
	}
	return nil, false
}
