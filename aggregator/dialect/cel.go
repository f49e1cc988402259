package dialect

import (
	"encoding/json"
	"fmt"

	"github.com/google/cel-go/cel"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// celProgram is one compiled rule set of the cel dialect.
type celProgram struct {
	pass, drain, degraded cel.Program
}

func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("status", cel.IntType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("body", cel.DynType),
		cel.Variable("latency_ms", cel.DoubleType),
	)
}

// CheckCEL compiles one expression of the cel dialect and reports why it
// cannot be used: a syntax or type error, or a result that is not a bool.
// Expressions see status (int), headers (map, lower-case names),
// body (parsed JSON, or null) and latency_ms (double).
func CheckCEL(expr string) error {
	env, err := celEnv()
	if err != nil {
		return err
	}
	_, err = compileOne(env, expr)
	return err
}

func compileOne(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("expression yields %s, want bool", t)
	}
	return env.Program(ast)
}

func compileCEL(rules upstreams.CELRules) (*celProgram, error) {
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	if rules.Pass == "" {
		return nil, fmt.Errorf("cel: pass expression is required")
	}
	p := &celProgram{}
	if p.pass, err = compileOne(env, rules.Pass); err != nil {
		return nil, fmt.Errorf("cel pass: %w", err)
	}
	if rules.Drain != "" {
		if p.drain, err = compileOne(env, rules.Drain); err != nil {
			return nil, fmt.Errorf("cel drain: %w", err)
		}
	}
	if rules.Degraded != "" {
		if p.degraded, err = compileOne(env, rules.Degraded); err != nil {
			return nil, fmt.Errorf("cel degraded: %w", err)
		}
	}
	return p, nil
}

// newCEL is the cel dialect's evaluator for p, its rule set compiled once
// per Factory.
func (f *Factory) newCEL(p *upstreams.Probe, expected upstreams.StatusSet) (Evaluator, error) {
	prog, err := f.compile(p.CEL)
	if err != nil {
		return nil, err
	}
	return &celEvaluator{prog: prog, expected: expected}, nil
}

// celEvaluator runs a rule set: drain, then pass, then degraded.
type celEvaluator struct {
	prog     *celProgram
	expected upstreams.StatusSet
	prev     Verdict
}

func (e *celEvaluator) Evaluate(r *probe.Response) Verdict {
	v := e.evaluate(r)
	v.Reason = clipReason(v.Reason) // an error can quote what the body held
	if v.Outcome == e.prev.Outcome && v.Reason == e.prev.Reason {
		return e.prev
	}
	e.prev = v
	return v
}

func (e *celEvaluator) evaluate(r *probe.Response) Verdict {
	if r.Err != nil {
		return Verdict{Outcome: membership.OutcomeFail, Reason: r.Err.Error()}
	}
	if r.ImmediateFail {
		return Verdict{Outcome: membership.OutcomeDrain, Reason: fmt.Sprintf("%d x-envoy-immediate-health-check-fail", r.StatusCode)}
	}
	var body any
	if len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, &body); err != nil {
			body = nil
		}
	}
	headers := r.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	vars := map[string]any{
		"status":     int64(r.StatusCode),
		"headers":    headers,
		"body":       body,
		"latency_ms": float64(r.Latency.Microseconds()) / 1000,
	}
	run := func(name string, p cel.Program) (bool, error) {
		out, _, err := p.Eval(vars)
		if err != nil {
			return false, fmt.Errorf("cel %s: %w", name, err)
		}
		b, ok := out.Value().(bool)
		if !ok {
			return false, fmt.Errorf("cel %s: result %v is not a bool", name, out.Value())
		}
		return b, nil
	}
	if e.prog.drain != nil {
		if d, err := run("drain", e.prog.drain); err == nil && d {
			return Verdict{Outcome: membership.OutcomeDrain, Reason: fmt.Sprintf("%d cel drain", r.StatusCode)}
		}
	}
	ok, err := run("pass", e.prog.pass)
	if err != nil {
		return Verdict{Outcome: membership.OutcomeFail, Reason: fmt.Sprintf("%d %v", r.StatusCode, err)}
	}
	if !ok {
		return Verdict{Outcome: membership.OutcomeFail, Reason: fmt.Sprintf("%d cel pass is false", r.StatusCode)}
	}
	if e.prog.degraded != nil {
		if d, err := run("degraded", e.prog.degraded); err == nil && d {
			return Verdict{Outcome: membership.OutcomeDegraded, Reason: fmt.Sprintf("%d cel degraded", r.StatusCode)}
		}
	}
	return Verdict{Outcome: membership.OutcomePass, Reason: fmt.Sprintf("%d cel pass", r.StatusCode)}
}
