package probe

// flightHeap orders flights by deadline, so the poller finds the next
// timeout in O(1) and retires one in O(log n).
type flightHeap []*Flight

func (h flightHeap) less(i, j int) bool { return h[i].Deadline.Before(h[j].Deadline) }

func (h flightHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *flightHeap) push(f *Flight) {
	f.heapIdx = len(*h)
	*h = append(*h, f)
	h.up(f.heapIdx)
}

// remove takes out the flight at index i.
func (h *flightHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	f := old[i]
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	f.heapIdx = -1
}

func (h flightHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i toward the leaves and reports whether it moved.
func (h flightHeap) down(i int) bool {
	start, n := i, len(h)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
