package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name holds spaces and a parenthesis.
	stat := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000000 500 18446744073709551615"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("cpu %s, want %s", got, want)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("garbage parsed")
	}
	self, err := cpuTime(os.Getpid())
	if err != nil || self < 0 {
		t.Errorf("own cpu time %s, %v", self, err)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP vigil_probes_total Probes completed.
# TYPE vigil_probes_total counter
vigil_probes_total{cluster="a",probe="liveness",result="pass"} 10
vigil_probes_total{cluster="a",probe="readiness",result="fail"} 2.5
go_goroutines 42
weird{label="has } brace"} 1e3
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if m["vigil_probes_total"] != 12.5 || m["go_goroutines"] != 42 || m["weird"] != 1000 {
		t.Errorf("parsed %v", m)
	}
	if m[`vigil_probes_total{cluster="a",probe="readiness",result="fail"}`] != 2.5 || m[`weird{label="has } brace"}`] != 1000 {
		t.Errorf("labelled series: %v", m)
	}
}

func TestParseGoBenchAndTargets(t *testing.T) {
	out := `pkg: github.com/vigilhq/vigil/aggregator/dialect
BenchmarkParse/dynamo_ready-2   	 1000000	      1500 ns/op	      16 B/op	       1 allocs/op
BenchmarkParse/slow-2           	  100000	      2500 ns/op	      16 B/op	       1 allocs/op
pkg: github.com/vigilhq/vigil/aggregator/probe
BenchmarkHTTPCheckKeepAlive-2   	   50000	     20000 ns/op	        12.5 cpu-us/op	       0 B/op	       0 allocs/op
PASS
`
	bs := parseGoBench(strings.NewReader(out))
	if len(bs) != 3 {
		t.Fatalf("parsed %d benchmarks: %+v", len(bs), bs)
	}
	if bs[0].Name != "BenchmarkParse/dynamo_ready" || bs[0].Pkg != "github.com/vigilhq/vigil/aggregator/dialect" {
		t.Errorf("first: %+v", bs[0])
	}
	if _, ok, has := benchTarget(bs[0]); !has || !ok {
		t.Error("1.5 us, 1 alloc should pass the parse target")
	}
	if _, ok, _ := benchTarget(bs[1]); ok {
		t.Error("2.5 us should miss the parse target")
	}
	if bs[2].Metrics["cpu-us/op"] != 12.5 {
		t.Errorf("custom metric: %+v", bs[2].Metrics)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds, 3, time.Second)
	if l.P50 != 100*time.Millisecond || l.P99 != 198*time.Millisecond || l.Max != 200*time.Millisecond || l.Missing != 3 {
		t.Errorf("%+v", l)
	}
}

func TestKeptNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	body := "# x\n" + notesBegin + "\nhand written\n" + notesEnd + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := keptNotes(path); got != "\nhand written\n" {
		t.Errorf("kept %q", got)
	}
	rep := &report{Opts: &Options{}, Notes: keptNotes(path)}
	if !strings.Contains(rep.markdown(), notesBegin+"\nhand written\n"+notesEnd) {
		t.Errorf("notes not carried over:\n%s", rep.markdown())
	}
}

func TestScheduleOnly(t *testing.T) {
	// Three failures at 1 s with 10% jitter: between 2 s and 3.3 s.
	p50, p99 := scheduleOnly(time.Second, 10, 3)
	if p50 < 2500*time.Millisecond || p50 > 2750*time.Millisecond || p99 < 3100*time.Millisecond || p99 > 3300*time.Millisecond {
		t.Errorf("3 failures: p50 %s, p99 %s", p50, p99)
	}
	// One probe, no jitter: uniform over the interval.
	p50, p99 = scheduleOnly(time.Second, 0, 1)
	if p50 < 450*time.Millisecond || p50 > 550*time.Millisecond || p99 < 970*time.Millisecond || p99 > time.Second {
		t.Errorf("1 probe: p50 %s, p99 %s", p50, p99)
	}
}
