package broker

import (
	"testing"
	"time"
)

func TestHeapWatchDue(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const mb = 1 << 20
	for _, c := range []struct {
		name  string
		watch heapWatch
		after time.Duration
		heap  uint64
		want  bool
	}{
		{"no baseline yet", heapWatch{}, time.Hour, 100 * mb, false},
		{"grown by a quarter, a minute later", heapWatch{floor: 24 * mb, at: t0}, time.Minute, 30*mb + 1, true},
		{"grown by a quarter, too soon", heapWatch{floor: 24 * mb, at: t0}, 59 * time.Second, 60 * mb, false},
		{"grown by less than a quarter", heapWatch{floor: 24 * mb, at: t0}, time.Hour, 30 * mb, false},
		{"shrunk", heapWatch{floor: 24 * mb, at: t0}, time.Hour, 20 * mb, false},
		{"small heap: a quarter is under the slack", heapWatch{floor: 2 * mb, at: t0}, time.Hour, 3 * mb, false},
		{"small heap: grown by more than the slack", heapWatch{floor: 2 * mb, at: t0}, time.Hour, 3*mb + 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.watch.due(t0.Add(c.after), c.heap); got != c.want {
				t.Errorf("due(+%v, %d) = %v, want %v", c.after, c.heap, got, c.want)
			}
		})
	}
}

func TestHeapWatchReclaimed(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var w heapWatch
	w.reclaimed(t0, 8<<20)
	if w.due(t0.Add(2*time.Minute), 9<<20) {
		t.Error("due at 9 MiB over a floor of 8 MiB")
	}
	if !w.due(t0.Add(2*time.Minute), 10<<20+1) {
		t.Error("not due at a quarter over a floor of 8 MiB")
	}
	w.reclaimed(t0.Add(2*time.Minute), 10<<20)
	if w.due(t0.Add(2*time.Minute+30*time.Second), 20<<20) {
		t.Error("due again within a minute of a reclaim")
	}
	if heapObjects() == 0 {
		t.Error("heapObjects reads 0: the runtime metric's name or kind changed")
	}
}
