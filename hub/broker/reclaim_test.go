package broker

import (
	"runtime"
	"runtime/debug"
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
		heap  heapState
		want  bool
	}{
		{"no baseline yet", heapWatch{}, time.Hour, heapState{100 * mb, 100 * mb}, false},
		{"grown by a quarter, a minute later", heapWatch{floor: 24 * mb, at: t0}, time.Minute, heapState{30*mb + 1, 0}, true},
		{"grown by a quarter, too soon", heapWatch{floor: 24 * mb, at: t0}, 59 * time.Second, heapState{60 * mb, 0}, false},
		{"grown by less than a quarter", heapWatch{floor: 24 * mb, at: t0}, time.Hour, heapState{30 * mb, 0}, false},
		{"shrunk", heapWatch{floor: 24 * mb, at: t0}, time.Hour, heapState{20 * mb, 0}, false},
		{"shrunk, a quarter of it kept free", heapWatch{floor: 24 * mb, at: t0}, time.Minute, heapState{20 * mb, 5*mb + 1}, true},
		{"shrunk, less than a quarter kept free", heapWatch{floor: 24 * mb, at: t0}, time.Hour, heapState{20 * mb, 5 * mb}, false},
		{"a quarter kept free, too soon", heapWatch{floor: 24 * mb, at: t0}, 59 * time.Second, heapState{20 * mb, 20 * mb}, false},
		{"small heap: a quarter is under the slack", heapWatch{floor: 2 * mb, at: t0}, time.Hour, heapState{3 * mb, mb}, false},
		{"small heap: grown by more than the slack", heapWatch{floor: 2 * mb, at: t0}, time.Hour, heapState{3*mb + 1, 0}, true},
		{"small heap: a quarter kept free, under the slack", heapWatch{floor: 2 * mb, at: t0}, time.Hour, heapState{2 * mb, 4 * mb}, false},
		{"small heap: more than the slack kept free", heapWatch{floor: 2 * mb, at: t0}, time.Hour, heapState{2 * mb, 4*mb + 1}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.watch.due(t0.Add(c.after), c.heap); got != c.want {
				t.Errorf("due(+%v, %+v) = %v, want %v", c.after, c.heap, got, c.want)
			}
		})
	}
}

func TestHeapWatchReclaimed(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var w heapWatch
	w.reclaimed(t0, 8<<20)
	if w.due(t0.Add(2*time.Minute), heapState{9 << 20, 0}) {
		t.Error("due at 9 MiB over a floor of 8 MiB")
	}
	if !w.due(t0.Add(2*time.Minute), heapState{10<<20 + 1, 0}) {
		t.Error("not due at a quarter over a floor of 8 MiB")
	}
	w.reclaimed(t0.Add(2*time.Minute), 10<<20)
	if w.due(t0.Add(2*time.Minute+30*time.Second), heapState{20 << 20, 20 << 20}) {
		t.Error("due again within a minute of a reclaim")
	}
}

// TestHeapNow: the runtime's metrics are read under the names and kinds
// the watch expects; garbage collected and not yet handed back shows as
// free.
func TestHeapNow(t *testing.T) {
	if h := heapNow(); h.objects == 0 {
		t.Fatalf("heap objects read as 0 (%+v): the runtime metric's name or kind changed", h)
	}
	debug.FreeOSMemory()
	before := heapNow().free
	litter(256, 64<<10)
	runtime.GC()
	if after := heapNow().free; after < before+4<<20 {
		t.Fatalf("16 MiB collected, the heap keeps %d bytes free, %d before", after, before)
	}
}

// litter allocates n blocks of size bytes and drops them.
//
//go:noinline
func litter(n, size int) {
	blocks := make([][]byte, 0, n)
	for range n {
		blocks = append(blocks, make([]byte, size))
	}
	runtime.KeepAlive(blocks)
}
