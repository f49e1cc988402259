package inbox

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// counting is an inbox whose wakeups are counted.
func counting() (*Inbox[int], *int) {
	n := new(int)
	return New[int](func() { *n++ }), n
}

// Posts reach the owner in order, and once closed the inbox takes only
// replies.
func TestInboxOrderAndClose(t *testing.T) {
	b, _ := counting()
	for i := range 3 {
		if !b.Post(i) {
			t.Fatalf("post %d refused", i)
		}
	}
	got, closed := b.Take()
	if !slices.Equal(got, []int{0, 1, 2}) || closed {
		t.Fatalf("took %v closed=%v, want [0 1 2] open", got, closed)
	}
	b.Post(3)
	b.Close()
	b.Close()
	if b.Post(4) {
		t.Fatal("a post after Close was taken")
	}
	b.Reply(5)
	got, closed = b.Take()
	if !slices.Equal(got, []int{3, 5}) || !closed || !b.Closed() {
		t.Fatalf("took %v closed=%v, want [3 5] closed", got, closed)
	}
	if got, _ := b.Take(); len(got) != 0 {
		t.Fatalf("took %v again", got)
	}
}

// The owner is woken once per sleep, only while it sleeps, and a held
// burst wakes it once when released; a pending message keeps it awake.
func TestInboxWakesASleepingOwnerOnce(t *testing.T) {
	b, wakes := counting()
	step := func(what string, do func(), want int) {
		t.Helper()
		do()
		if *wakes != want {
			t.Fatalf("%s: %d wakeups, want %d", what, *wakes, want)
		}
	}
	step("post while awake", func() { b.Post(1) }, 0)
	if b.Sleep() {
		t.Fatal("Sleep with a message pending said to wait")
	}
	b.Take()
	if !b.Sleep() {
		t.Fatal("Sleep with nothing pending said not to wait")
	}
	step("first post while asleep", func() { b.Post(2) }, 1)
	step("second post, wakeup already sent", func() { b.Post(3) }, 1)
	b.Awake()
	b.Take()
	b.Sleep()
	step("posts while held", func() { b.Hold(); b.Post(4); b.Hold(); b.Post(5); b.Release() }, 1)
	step("last release", func() { b.Release() }, 2)
	b.Awake()
	b.Take()
	b.Sleep()
	step("release with nothing posted", func() { b.Hold(); b.Release() }, 2)
	step("close while asleep", func() { b.Close() }, 3)
	b.Awake()
	step("reply while awake", func() { b.Reply(6) }, 3)
}

// Many posters and an owner that sleeps whenever its inbox is empty: no
// message is lost and no wakeup missed (run with -race).
func TestInboxLosesNoWakeup(t *testing.T) {
	wake := make(chan struct{}, 1)
	b := New[int](func() { wake <- struct{}{} }) // a second send would block: at most one wakeup in flight
	const posters, each = 4, 2000
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i%100 == 0 {
					b.Hold()
				}
				b.Post(p*each + i)
				if i%100 == 99 {
					b.Release()
				}
			}
		}()
	}
	seen := make([]bool, posters*each)
	got := 0
	deadline := time.After(20 * time.Second)
	for got < len(seen) {
		msgs, _ := b.Take()
		for _, m := range msgs {
			if seen[m] {
				t.Fatalf("message %d taken twice", m)
			}
			seen[m] = true
			got++
		}
		if len(msgs) > 0 || !b.Sleep() {
			continue
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("owner asleep with %d of %d messages taken: a wakeup was lost", got, len(seen))
		}
		b.Awake()
	}
	wg.Wait()
}
