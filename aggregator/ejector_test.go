package aggregator

import (
	"fmt"
	"strings"
	"testing"
)

// One cluster's ejector driven event by event. Instances are i1..iN.
func TestEjectorCapsAndReleasesInOrder(t *testing.T) {
	e := newEjector(50)
	marks := map[string]*ejectMark{}
	names := map[*instance]string{}
	for i := 1; i <= 10; i++ {
		n := fmt.Sprintf("i%d", i)
		inst := &instance{}
		marks[n], names[inst] = e.add(inst), n
	}
	nameOf := func(insts ...*instance) string {
		var s []string
		for _, inst := range insts {
			if inst != nil {
				s = append(s, names[inst])
			}
		}
		return strings.Join(s, " ")
	}
	steps := []struct {
		ev          string // "out i1" (wants out, in rotation), "out! i1" (already out of rotation), "back i1", "remove i1", "percent 70"
		want        string // admit: "ok" or the reason; back/remove/percent: the instances to re-decide
		out, waitng int
	}{
		{"out i1", "ok", 1, 0},
		{"out i2", "ok", 2, 0},
		{"out i3", "ok", 3, 0},
		{"out i4", "ok", 4, 0},
		{"out i5", "ok", 5, 0},
		{"out i5", "ok", 5, 0}, // asked again: already out
		{"out i6", "max_ejection_percent 50: 5 of 10 out", 5, 1},
		{"out i7", "max_ejection_percent 50: 5 of 10 out", 5, 2},
		{"out i6", "max_ejection_percent 50: 5 of 10 out", 5, 2}, // still waiting, in its place
		// Already out of rotation (never passed, draining): counted, never held.
		{"out! i8", "ok", 6, 2},
		{"back i8", "", 5, 2},
		// One out recovers: the longest waiting (i6) is handed back, and goes.
		{"back i1", "i6", 4, 2},
		{"out i6", "ok", 5, 1},
		// A waiting one recovers on its own: no place opens.
		{"back i7", "", 5, 0},
		{"out i7", "max_ejection_percent 50: 5 of 10 out", 5, 1},
		{"out i9", "max_ejection_percent 50: 5 of 10 out", 5, 2},
		// One out leaves the cluster: 5 of 9 is over 50% (4): nobody fits.
		{"remove i2", "", 4, 2},
		{"back i3", "i7", 3, 2},
		// i7 recovered before its turn came: re-deciding it hands on to i9.
		{"back i7", "i9", 3, 1},
		{"out i9", "ok", 4, 0},
		{"out i10", "max_ejection_percent 50: 4 of 9 out", 4, 1},
		// A larger cap lets the waiting one go.
		{"percent 70", "i10", 4, 1},
		{"out i10", "ok", 5, 0},
		{"remove i10", "", 4, 0},
	}
	for i, s := range steps {
		f := strings.Fields(s.ev)
		var got string
		switch f[0] {
		case "out", "out!":
			ok, reason := e.admit(marks[f[1]], f[0] == "out")
			if got = reason; ok {
				got = "ok"
			}
		case "back":
			got = nameOf(e.back(marks[f[1]]))
		case "remove":
			got = nameOf(e.remove(marks[f[1]])...)
		case "percent":
			var p int
			if _, err := fmt.Sscan(f[1], &p); err != nil {
				t.Fatalf("step %d %q: %v", i, s.ev, err)
			}
			got = nameOf(e.configure(p)...)
		}
		out, waiting := e.counts()
		if got != s.want || out != s.out || waiting != s.waitng {
			t.Fatalf("step %d %q: %q, %d out, %d waiting; want %q, %d, %d", i, s.ev, got, out, waiting, s.want, s.out, s.waitng)
		}
	}
}

func TestEjectorWithoutCap(t *testing.T) {
	e := newEjector(100)
	var marks []*ejectMark
	for range 4 {
		marks = append(marks, e.add(&instance{}))
	}
	for i, m := range marks {
		if ok, reason := e.admit(m, true); !ok {
			t.Fatalf("instance %d held at 100%%: %s", i, reason)
		}
	}
}
