package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Targets from issue 6.
const (
	targetCPUPerProbeUS = 25.0
	targetRatio         = 0.55
	targetOnTime        = 0.995
	targetRSSMiB        = 300.0
	targetDetectSlack   = 250 * time.Millisecond
	targetPropagation   = 50 * time.Millisecond
	targetFlat          = 1.25 // CPU per probe at any N vs the smallest N (our reading of "flat")
)

// Markers around the hand-written part of BENCHMARKS.md, kept across runs.
const (
	notesBegin = "<!-- notes:begin (kept by benchfleet across runs) -->"
	notesEnd   = "<!-- notes:end -->"
)

// report is everything BENCHMARKS.md shows.
type report struct {
	When        time.Time
	Command     string
	Machine     machine
	Opts        *Options
	Sizes       []sizeResult
	Replicas    *replicaResult // the 3-replica run; nil: not run
	GoBench     []goBench
	GoBenchFrom string
	Notes       string // kept from the previous file
}

func passMiss(ok bool) string {
	if ok {
		return "pass"
	}
	return "**MISS**"
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 100 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// num prints a benchmark figure: whole numbers with separators from 1,000
// up, four significant digits below.
func num(v float64) string {
	if v >= 1000 {
		return thousands(int(math.Round(v)))
	}
	return fmt.Sprintf("%.4g", v)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// markdown renders the whole file.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.Opts
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# vigil benchmarks\n\n")
	w("Written by `cmd/benchfleet` (`make bench`) on %s. Everything outside the notes section is regenerated on every run.\n\n",
		r.When.UTC().Format("2006-01-02 15:04 MST"))
	w("## Setup\n\n")
	w("- Machine: %d cores, %s, Linux %s, %s. Load average when the run started: %s (the fleet, vigil and the harness share these cores).\n",
		r.Machine.Cores, r.Machine.Model, r.Machine.Kernel, r.Machine.Go, r.Machine.LoadAvg)
	w("- Command: `%s`\n", r.Command)
	w("- Fleet: `bin/fleetsim` processes of at most %s instances each (formats: %s), every instance its own listener on its own 127.x.y.z:port.\n",
		thousands(o.PerFleet), o.Formats)
	w("- vigil (`bin/vigil serve`, a separate process): one cluster per format; liveness and readiness of every instance every %s (+ up to %d%% jitter, so %.0f ms on average), timeout %s, healthy_threshold %d, unhealthy_threshold %d. Its CPU is utime+stime from /proc/<pid>/stat over the window, peak RSS is VmHWM.\n",
		o.Interval, o.Jitter, float64(o.meanInterval())/float64(time.Millisecond), o.Timeout, o.Rise, o.Fall)
	w("- Window: %s per size, starting %s after the first probe round is done (`/readyz` 200, every instance HEALTHY, every assignment received over ADS), so that it measures steady running; startup is reported in its own rows. During the window, cycles of: %.1f%% of instances flipped to notready and %.1f%% to draining through the fleet control API, then all back to ready once vigil saw them.\n",
		o.Duration, o.Settle, o.NotReadyShare*100, o.DrainShare*100)
	w("- Detection latency: flip time (recorded by the fleet) to the membership transition (its `time` on vigil's admin event stream). Propagation latency: transition to the arrival of the assignment carrying it at a watcher holding a state-of-the-world ADS stream to vigil, subscribed to every cluster's ClusterLoadAssignment.\n")
	if o.NoFile > 0 {
		w("- vigil's open-file limit: %s (`ulimit -n`, soft and hard). vigil keeps one connection per instance address while its fd budget allows and probes the rest on short-lived connections (see the README's \"Open files\").\n", thousands(o.NoFile))
	}
	if o.Baseline {
		w("- Baseline: after vigil stops, a bare Go net/http loop (one goroutine and one keep-alive connection per instance, GET and read the body, the same targets, interval, jitter and timeout) runs as its own process against the same fleet for %s after %s of warm-up; its CPU is read from /proc the same way.\n\n",
			o.BaselineDuration, o.BaselineWarmup)
	} else {
		w("- Baseline: not run (`-baseline=false`).\n\n")
	}

	if len(r.Sizes) > 0 {
		r.fleetTable(&b)
	}
	if r.Replicas != nil {
		r.replicaTable(&b)
	}
	r.goBenchSection(&b)
	w("## Notes\n\n%s\n", notesBegin)
	if strings.TrimSpace(r.Notes) != "" {
		w("%s\n", strings.Trim(r.Notes, "\n"))
	}
	w("%s\n", notesEnd)
	return b.String()
}

func (r *report) fleetTable(b *strings.Builder) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Fleet benchmark\n\n| | target |")
	for _, s := range r.Sizes {
		w(" N = %s |", thousands(s.N))
	}
	w("\n|---|---|")
	for range r.Sizes {
		w("---|")
	}
	w("\n")
	row := func(name, target string, cell func(s sizeResult) string) {
		w("| %s | %s |", name, target)
		for _, s := range r.Sizes {
			w(" %s |", cell(s))
		}
		w("\n")
	}
	base := r.Sizes[0].CPUPerProbeUS
	o := r.Opts
	row("fleet processes / window", "", func(s sizeResult) string {
		return fmt.Sprintf("%d / %.1f s", s.Fleets, s.Window.Seconds())
	})
	row("probes/s achieved / scheduled", "all scheduled", func(s sizeResult) string {
		return fmt.Sprintf("%s / %s (%.1f%%)", thousands(int(math.Round(s.Achieved))), thousands(int(math.Round(s.Scheduled))), 100*s.Achieved/s.Scheduled)
	})
	row("probes started within 100 ms of schedule", fmt.Sprintf(">= %.1f%%", targetOnTime*100), func(s sizeResult) string {
		if math.IsNaN(s.OnTime) {
			return "n/a"
		}
		how := ""
		if !strings.HasPrefix(s.OnTimeHow, "vigil ") {
			how = fmt.Sprintf(" (sampled, %d probes)", s.OnTimeSamples)
		}
		return fmt.Sprintf("%.2f%%%s %s", s.OnTime*100, how, passMiss(s.OnTime >= targetOnTime))
	})
	row("probes with no result for 3 intervals at the window's end", "0", func(s sizeResult) string {
		return fmt.Sprintf("%d %s", s.Stalled, passMiss(s.Stalled == 0))
	})
	row("startup: time to /readyz / on time until the window", "", func(s sizeResult) string {
		if math.IsNaN(s.StartOnTime) || s.ReadyAfter == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%s / %.2f%%", s.ReadyAfter.Round(10*time.Millisecond), s.StartOnTime*100)
	})
	row("vigil CPU", "", func(s sizeResult) string { return fmt.Sprintf("%.3f cores", s.Cores) })
	row("CPU of the fleets / of benchfleet", "", func(s sizeResult) string {
		return fmt.Sprintf("%.3f / %.3f cores", s.FleetCores, s.HarnessCores)
	})
	row("vigil CPU per probe", fmt.Sprintf("<= %.0f us", targetCPUPerProbeUS), func(s sizeResult) string {
		return fmt.Sprintf("%.1f us %s", s.CPUPerProbeUS, passMiss(s.CPUPerProbeUS <= targetCPUPerProbeUS))
	})
	row("open-file limit / connections kept / short-lived connections per s", "", func(s sizeResult) string {
		if s.FileLimit == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%s / %s / %s", thousands(int(s.FileLimit)), thousands(int(s.Kept)), thousands(int(math.Round(s.ShortLivedPS))))
	})
	row("probes skipped for vigil's own faults", "0", func(s sizeResult) string {
		if math.IsNaN(s.Skipped) {
			return "n/a"
		}
		return fmt.Sprintf("%.0f %s", s.Skipped, passMiss(s.Skipped == 0))
	})
	row("bare net/http loop CPU per probe", "(issue: ~45 us)", func(s sizeResult) string {
		if !o.Baseline {
			return "not run"
		}
		return fmt.Sprintf("%.1f us (%s probes/s, %.2f%% on time, %d errors)", s.Baseline.cpuPerProbeUS(),
			thousands(int(math.Round(s.Baseline.perSecond()))), s.Baseline.onTime()*100, s.Baseline.Errors)
	})
	row("vigil / net/http CPU per probe", fmt.Sprintf("<= %.2fx", targetRatio), func(s sizeResult) string {
		bl := s.Baseline.cpuPerProbeUS()
		if bl == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx %s", s.CPUPerProbeUS/bl, passMiss(s.CPUPerProbeUS/bl <= targetRatio))
	})
	row("CPU per probe vs the smallest N", fmt.Sprintf("not rising with N (<= %.2fx)", targetFlat), func(s sizeResult) string {
		if base == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx %s", s.CPUPerProbeUS/base, passMiss(s.CPUPerProbeUS/base <= targetFlat))
	})
	row("vigil peak RSS (VmHWM)", fmt.Sprintf("<= %.0f MiB", targetRSSMiB), func(s sizeResult) string {
		return fmt.Sprintf("%.0f MiB %s", s.PeakRSSMiB, passMiss(s.PeakRSSMiB <= targetRSSMiB))
	})
	row("bare net/http loop peak RSS", "", func(s sizeResult) string {
		if !o.Baseline {
			return "not run"
		}
		return fmt.Sprintf("%.0f MiB", float64(s.Baseline.PeakRSSKB)/1024)
	})
	row("vigil goroutines", "", func(s sizeResult) string { return fmt.Sprintf("%.0f", s.Goroutines) })
	for k := range numKinds {
		floor := r.Sizes[0].Detect[k].Floor
		target := fmt.Sprintf("p99 <= floor + %s (floor %s)", ms(targetDetectSlack), floor)
		if k == kindReady {
			target = fmt.Sprintf("(floor %s)", floor)
		}
		row("detection "+kindNames[k]+" p50 / p99", target, func(s sizeResult) string {
			l := s.Detect[k]
			if l.Samples == 0 {
				return fmt.Sprintf("no samples (%d missing)", l.Missing)
			}
			cell := fmt.Sprintf("%s / %s", ms(l.P50), ms(l.P99))
			if k != kindReady {
				cell += " " + passMiss(l.P99 <= l.Floor+targetDetectSlack)
			}
			if l.Missing > 0 {
				cell += fmt.Sprintf(" (%d of %d never seen)", l.Missing, l.Missing+l.Samples)
			}
			return cell
		})
	}
	row("propagation p50 / p99", "p99 <= "+ms(targetPropagation), func(s sizeResult) string {
		l := s.Propagation
		if l.Samples == 0 {
			return fmt.Sprintf("no samples (%d missing)", l.Missing)
		}
		cell := fmt.Sprintf("%s / %s %s", ms(l.P50), ms(l.P99), passMiss(l.P99 <= targetPropagation))
		if l.Missing > 0 {
			cell += fmt.Sprintf(" (%d not seen on ADS)", l.Missing)
		}
		return cell
	})
	row("flip cycles / flips / events / ADS responses", "", func(s sizeResult) string {
		return fmt.Sprintf("%d / %d / %d / %d", s.Cycles, s.Flips, s.Events, s.ADSResponses)
	})
	w("\nThe floor of detection is the threshold times the interval: after a flip the next probe comes within one interval (up to %d%% more with jitter), and the threshold's probes follow one interval apart. ", o.Jitter)
	w("The schedule alone, with no processing time at all, gives p50 / p99 of")
	for k, th := range [numKinds]int{o.Fall, 1, o.Rise} {
		p50, p99 := scheduleOnly(o.Interval, o.Jitter, th)
		sep := ","
		if k == numKinds-1 {
			sep = "."
		}
		w(" %s / %s (%s)%s", ms(p50), ms(p99), strings.SplitN(kindNames[k], " ", 2)[0], sep)
	}
	w(" (An instance whose liveness and readiness both answer draining, or both fail, is caught by whichever probe comes first, so it can beat these.)")
	w(" CPU per probe is vigil's whole process (scheduling, probing, parsing, state machines, metrics, the event stream and xDS) divided by the probes it completed.\n\n")
	for _, s := range r.Sizes {
		for _, n := range s.Notes {
			w("- N = %s: %s\n", thousands(s.N), n)
		}
	}
	w("\n")
}

func (r *report) goBenchSection(b *strings.Builder) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Go micro-benchmarks\n\n")
	if len(r.GoBench) == 0 {
		w("No results: %s was not found (`make bench-go` writes it).\n\n", r.GoBenchFrom)
		return
	}
	w("From `%s` (`go test -run '^$' -bench . -benchmem -count 1 ./aggregator/... ./membership/ ./xds/ ./replicas/`, run by `make bench` just before the fleet benchmark).\n\n", r.GoBenchFrom)
	w("| package | benchmark | ns/op | B/op | allocs/op | other | target |\n|---|---|---|---|---|---|---|\n")
	var keepAlive, netHTTP, oneCluster, tenClusters float64
	for _, gb := range r.GoBench {
		var other []string
		for _, u := range gb.Units {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
				other = append(other, num(gb.Metrics[u])+" "+u)
			}
		}
		target := ""
		if t, ok, has := benchTarget(gb); has {
			target = t + " " + passMiss(ok)
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(gb.Pkg, "github.com/vigilhq/vigil/"),
			strings.TrimPrefix(gb.Name, "Benchmark"), num(gb.Metrics["ns/op"]), num(gb.Metrics["B/op"]), num(gb.Metrics["allocs/op"]),
			strings.Join(other, ", "), target)
		switch gb.Name {
		case "BenchmarkHTTPCheckKeepAlive":
			keepAlive = gb.Metrics["cpu-us/op"]
		case "BenchmarkNetHTTPKeepAlive":
			netHTTP = gb.Metrics["cpu-us/op"]
		case "BenchmarkUpdateMemberAmongClusters/clusters=1":
			oneCluster = gb.Metrics["ns/op"]
		case "BenchmarkUpdateMemberAmongClusters/clusters=10":
			tenClusters = gb.Metrics["ns/op"]
		}
	}
	if keepAlive > 0 && netHTTP > 0 {
		w("\nvigil's HTTP check on a keep-alive connection uses %.2fx the CPU of a net/http client doing the same probe (%.1f vs %.1f cpu-us/op, client side only).\n",
			keepAlive/netHTTP, keepAlive, netHTTP)
	}
	if oneCluster > 0 && tenClusters > 0 {
		w("\nA change to one member of a 1,000-member cluster costs %s ns with no other cluster and %s ns beside 9 other clusters of 1,000 (%.2fx; target: O(that cluster), so about 1x) %s.\n",
			num(oneCluster), num(tenClusters), tenClusters/oneCluster, passMiss(tenClusters/oneCluster <= 1.5))
	}
	w("\n")
}

// keptNotes returns the notes section of an existing BENCHMARKS.md.
func keptNotes(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.Index(s, notesBegin)
	j := strings.Index(s, notesEnd)
	if i < 0 || j < i {
		return ""
	}
	return s[i+len(notesBegin) : j]
}
