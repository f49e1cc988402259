package fdbudget

import (
	"strings"
	"sync"
	"testing"
)

func TestPlanFor(t *testing.T) {
	for _, tc := range []struct {
		limit int
		want  Plan
	}{
		{0, Plan{}},
		{100, Plan{Limit: 100, Reserve: 50, Kept: 25, ShortLived: 25}},            // small: half reserved, half the rest short-lived
		{300, Plan{Limit: 300, Reserve: 150, Kept: 86, ShortLived: 64}},           // the 300-file limit
		{1024, Plan{Limit: 1024, Reserve: 256, Kept: 692, ShortLived: 76}},        // a common soft default
		{20000, Plan{Limit: 20000, Reserve: 2000, Kept: 16200, ShortLived: 1800}}, // the benchmark machine
		{1 << 20, Plan{Limit: 1 << 20, Reserve: 104857, Kept: 849348, ShortLived: 94371}},
	} {
		got := PlanFor(tc.limit)
		if got != tc.want {
			t.Errorf("PlanFor(%d) = %+v, want %+v", tc.limit, got, tc.want)
		}
		if got.Reserve+got.Kept+got.ShortLived != got.Limit {
			t.Errorf("PlanFor(%d) does not add up: %+v", tc.limit, got)
		}
	}
	huge := PlanFor(int(^uint(0) >> 1)) // RLIM_INFINITY, clamped
	if huge.Reserve <= 0 || huge.Kept <= 0 || huge.ShortLived <= 0 {
		t.Errorf("PlanFor(max int) overflowed: %+v", huge)
	}
}

func TestLimitForIsTheSmallestThatKeepsThem(t *testing.T) {
	for _, kept := range []int{0, 1, 25, 26, 400, 692, 693, 10000, 25000, 50000} {
		l := LimitFor(kept)
		if PlanFor(l).Kept < kept {
			t.Errorf("LimitFor(%d) = %d keeps only %d", kept, l, PlanFor(l).Kept)
		}
		if l > 0 && PlanFor(l-1).Kept >= kept {
			t.Errorf("LimitFor(%d) = %d, but %d keeps %d already", kept, l, l-1, PlanFor(l-1).Kept)
		}
	}
}

func TestFitWarning(t *testing.T) {
	fit := PlanFor(20000).Fit(25000)
	if fit.Fits() || fit.KeptFit != 16200 || fit.Overflow != 8800 || fit.LimitToFit != LimitFor(25000) {
		t.Fatalf("fit = %+v", fit)
	}
	w := fit.Warning()
	for _, want := range []string{"(25000)", "limit of 20000 keeps 16200", "other 8800 instance addresses are probed on short-lived connections",
		"at least 30863", "LimitNOFILE", "ulimit -n"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	if ok := PlanFor(20000).Fit(16200); !ok.Fits() || ok.Warning() != "" {
		t.Errorf("16200 should fit a 20000 limit: %+v %q", ok, ok.Warning())
	}
}

// TestBudgetStates walks a small budget through its states, one event at
// a time.
func TestBudgetStates(t *testing.T) {
	b := New(Plan{Limit: 10, Reserve: 5, Kept: 2, ShortLived: 1})
	type step struct {
		do        string // keep, unkeep, short, unshort
		ok        bool   // what keep or short returned
		state     State
		kept, shl int
		denied    uint64
	}
	steps := []step{
		{"keep", true, Fits, 1, 0, 0},
		{"keep", true, KeptFull, 2, 0, 0},
		{"keep", false, KeptFull, 2, 0, 0}, // a third address: short-lived from here
		{"short", true, Exhausted, 2, 1, 0},
		{"short", false, Exhausted, 2, 1, 1}, // skipped: fd_budget
		{"unshort", true, KeptFull, 2, 0, 1},
		{"short", true, Exhausted, 2, 1, 1},
		{"unkeep", true, Fits, 1, 1, 1}, // a kept address left: the next dial may keep
		{"unshort", true, Fits, 1, 0, 1},
		{"keep", true, KeptFull, 2, 0, 1},
	}
	for i, s := range steps {
		ok := true
		switch s.do {
		case "keep":
			ok = b.Keep()
		case "unkeep":
			b.Unkeep()
		case "short":
			ok = b.Short()
		case "unshort":
			b.Unshort()
		}
		st := b.Stats()
		if ok != s.ok || b.State() != s.state || st.KeptInUse != s.kept || st.ShortLivedInUse != s.shl || st.Denied != s.denied {
			t.Fatalf("step %d (%s): ok=%v state=%s kept=%d short=%d denied=%d; want ok=%v state=%s kept=%d short=%d denied=%d",
				i, s.do, ok, b.State(), st.KeptInUse, st.ShortLivedInUse, st.Denied, s.ok, s.state, s.kept, s.shl, s.denied)
		}
	}
	if st := b.Stats(); st.ShortLivedTotal != 2 {
		t.Errorf("short-lived slots taken = %d, want 2", st.ShortLivedTotal)
	}
}

func TestNilBudgetIsUnlimited(t *testing.T) {
	var b *Budget
	for range 3 {
		if !b.Keep() || !b.Short() {
			t.Fatal("a nil budget refused a slot")
		}
		b.Unkeep()
		b.Unshort()
	}
	if b.State() != Fits || b.Stats() != (Stats{}) {
		t.Errorf("nil budget: state %s, stats %+v", b.State(), b.Stats())
	}
}

func TestGivingBackAnUntakenSlotPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Unkeep without Keep did not panic")
		}
	}()
	New(PlanFor(1000)).Unkeep()
}

// TestBudgetNeverOverCommits races takers against the limits.
func TestBudgetNeverOverCommits(t *testing.T) {
	b := New(Plan{Limit: 100, Reserve: 50, Kept: 7, ShortLived: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxKept, maxShort := 0, 0
	// hold takes a slot with take, notes how many are held, gives it back.
	hold := func(take func() bool, give func(), held func(Stats) int, most *int) {
		if !take() {
			return
		}
		n := held(b.Stats())
		mu.Lock()
		*most = max(*most, n)
		mu.Unlock()
		give()
	}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				hold(b.Keep, b.Unkeep, func(st Stats) int { return st.KeptInUse }, &maxKept)
				hold(b.Short, b.Unshort, func(st Stats) int { return st.ShortLivedInUse }, &maxShort)
			}
		}()
	}
	wg.Wait()
	if maxKept > 7 || maxShort > 3 {
		t.Errorf("held at once: kept %d (limit 7), short-lived %d (limit 3)", maxKept, maxShort)
	}
	if st := b.Stats(); st.KeptInUse != 0 || st.ShortLivedInUse != 0 {
		t.Errorf("slots left held: %+v", st)
	}
}
