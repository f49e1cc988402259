package aggregator

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// Skips are logged once per window and cause, /readyz names each cause
// with its count while they last, and is ready one window after they stop.
func TestSkipLogOncePerIntervalAndReadiness(t *testing.T) {
	var buf bytes.Buffer
	s := newSkipLog(slog.New(slog.NewTextHandler(&buf, nil)))
	t0 := time.Unix(1_000_000, 0) // on a 5 s bucket boundary
	const iv = 5 * time.Second
	if ok, detail := s.ready(t0); !ok || detail != "ok" {
		t.Fatalf("ready before any skip: %v %q", ok, detail)
	}
	for i := range 100 { // 100 skips over 2 s: 50 per second
		s.skipped(t0.Add(time.Duration(i)*20*time.Millisecond), probe.SkipFDBudget, iv, "web", "10.0.0.1:80", "no slot")
	}
	s.skipped(t0.Add(time.Second), probe.SkipFDLimit, iv, "db", "10.0.0.2:80", "connect: too many open files")
	if n := strings.Count(buf.String(), "probes skipped"); n != 2 {
		t.Fatalf("%d log lines for 101 skips of 2 causes in one window, want 2:\n%s", n, buf.String())
	}
	ok, detail := s.ready(t0.Add(2 * time.Second))
	if ok || !strings.Contains(detail, "fd_budget: 100 in the last 5s (no slot)") ||
		!strings.Contains(detail, "fd_limit: 1 in the last 5s (connect: too many open files)") {
		t.Fatalf("ready while skipping: %v %q", ok, detail)
	}
	// Still skipping in the next window: one more line with the count since the last.
	for i := range 10 {
		s.skipped(t0.Add(5*time.Second+time.Duration(i)*100*time.Millisecond), probe.SkipFDBudget, iv, "web", "10.0.0.1:80", "no slot")
	}
	if n := strings.Count(buf.String(), "probes skipped"); n != 3 || !strings.Contains(buf.String(), "cause=fd_budget skipped=100 ") {
		t.Fatalf("log after a window: %d lines:\n%s", n, buf.String())
	}
	if ok, _ := s.ready(t0.Add(6 * time.Second)); ok {
		t.Fatal("ready while still skipping")
	}
	// Skips stopped at t0+5.9s: ready a window later, not before.
	if ok, _ := s.ready(t0.Add(10 * time.Second)); ok {
		t.Fatal("ready less than a window after the last skip")
	}
	if ok, detail := s.ready(t0.Add(11 * time.Second)); !ok || detail != "ok" {
		t.Fatalf("a window after the last skip: %v %q", ok, detail)
	}
}
