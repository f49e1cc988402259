package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// goBench is one line of `go test -bench` output.
type goBench struct {
	Pkg     string
	Name    string // without the -GOMAXPROCS suffix
	Iters   int64
	Metrics map[string]float64 // by unit: ns/op, B/op, allocs/op, cpu-us/op, ...
	Units   []string           // in the order printed
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseGoBench reads `go test -bench -benchmem` output.
func parseGoBench(r io.Reader) []goBench {
	var out []goBench
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := goBench{Pkg: pkg, Name: procsSuffix.ReplaceAllString(f[0], ""), Iters: iters, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			b.Metrics[f[i+1]] = v
			b.Units = append(b.Units, f[i+1])
		}
		out = append(out, b)
	}
	return out
}

// benchTarget is the target for a micro-benchmark, if it has one.
// It returns the target's text and whether b meets it.
func benchTarget(b goBench) (string, bool, bool) {
	ns, allocs := b.Metrics["ns/op"], b.Metrics["allocs/op"]
	switch {
	case strings.HasPrefix(b.Name, "BenchmarkParse"):
		return "<= 2 us and <= 5 allocs per parse", ns <= 2000 && allocs <= 5, true
	case b.Name == "BenchmarkStateMachineStep":
		return "0 allocs per step", allocs == 0, true
	}
	return "", false, false
}
