package broker

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/toyhub/toyhub/hub/internal/pageout"
)

// reclaim gives memory back to the system once the hub's start, and each
// burst of connections (every toy reconnecting after a power cut or a
// Wi-Fi outage), has settled. Each handshake leaves garbage and a grown
// stack behind, and Go alone would return them only over several
// two-minute collections: on a Pi with 512 MB, for minutes, tens of
// megabytes. The pages of the executable that only the start or the
// burst read go back too (see pageout).
//
// Between bursts it hands back garbage as it gathers (see heapWatch), and
// collects when the goroutines' stacks have grown back.
func (b *Broker) reclaim() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last, since int64
	started := false
	var floor uint64 // the least the stacks have held after a reclaim
	var heap heapWatch
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		n := b.lis.handshakes.Load()
		if n != last {
			since += n - last
			last = n
			continue // still busy
		}
		now := time.Now()
		switch {
		case since >= 64:
			cycles, stacks := shrinkStacks()
			debug.FreeOSMemory()
			floor = stacks
			heap.reclaimed(now, heapObjects())
			b.log.Debug("Memory reclaimed", "collections", cycles, "stack_bytes", stacks)
		case heap.due(now, heapNow()):
			debug.FreeOSMemory()
			heap.reclaimed(now, heapObjects())
			if floor > 0 {
				floor = min(floor, stackInUse())
			}
		case floor > 0 && stackInUse() > floor+regrowth:
			// A keepalive fits in an idle reader's 8 KiB (see
			// third_party/mochi/PATCHED.md), but a publish, its hooks
			// and the router do not: toys that send grow their readers
			// to 16 KiB or more, and keep them until a collection. One
			// collection here halves what grew since the last; with a
			// few toys it never runs, and before the first burst the
			// stacks are not even read.
			runtime.GC()
			floor = min(floor, stackInUse())
		}
		if !started {
			heap.reclaimed(now, heapObjects()) // the baseline
		}
		if since >= 64 || !started {
			if n, err := pageout.Executable(); err != nil {
				b.log.Debug("Executable pages kept", "error", err)
			} else {
				b.log.Debug("Executable pages handed back", "bytes", n)
			}
			since, started = 0, true
		}
	}
}

// heapWatch hands garbage back to the system between bursts. Go collects
// when the heap has doubled since the last collection, and keeps the
// freed pages for the next cycle, so an idle hub holds about twice its
// live heap: with 1,000 toys, 25 MB more than it uses. A collection that
// also returns the freed pages (debug.FreeOSMemory) keeps it near what is
// live: once the heap has grown by a quarter, or once a collection of
// Go's own (every two minutes at the least) has left a quarter of it
// free and kept. It runs at most once a minute, so under load it adds at
// most one collection a minute to Go's own.
type heapWatch struct {
	floor uint64    // the heap's bytes just after the last reclaim
	at    time.Time // when that was; zero before the first
}

const (
	heapEvery = time.Minute
	heapSlack = 1 << 20 // growth never worth a collection
	// freeSlack is free pages never worth a collection: one reads the
	// runtime's type data back into memory, about 2 MB of the executable
	// that the start's pageout had handed back (10 idle toys: 22.5 MB
	// with it at 1 MiB, 20.7 without the rule).
	freeSlack = 4 << 20
)

// heapState is the heap as the watch reads it: the bytes of its objects,
// live or not yet collected, and the bytes it holds free and has not
// returned to the system.
type heapState struct{ objects, free uint64 }

// due says whether the heap now has grown enough since the last reclaim
// (or the baseline taken once the hub has started), or keeps enough free,
// to collect.
func (w *heapWatch) due(now time.Time, h heapState) bool {
	if w.at.IsZero() || now.Sub(w.at) < heapEvery {
		return false
	}
	return h.objects > w.floor+max(w.floor/4, heapSlack) || h.free > max(h.objects/4, freeSlack)
}

// reclaimed notes a reclaim at now that left heap bytes.
func (w *heapWatch) reclaimed(now time.Time, heap uint64) {
	w.floor, w.at = heap, now
}

// heapNow reads the heap's state; reading it does not stop the world.
func heapNow() heapState {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	var h heapState
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.objects = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		h.free = s[1].Value.Uint64()
	}
	return h
}

// heapObjects is the bytes of the heap's objects, live or not yet
// collected.
func heapObjects() uint64 { return heapNow().objects }

// regrowth is how much the goroutines' stacks may grow back above their
// least before reclaim collects: 256 readers' worth.
const regrowth = 2 << 20

func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// shrinkStacks collects until the goroutines' stacks stop shrinking, at
// most eight times. A collection halves the stack of a parked goroutine
// that uses under a quarter of it, and gives the freed stack memory back
// only at the next one: a reading goroutine whose stack the handshake's
// hooks grew to 64 KiB takes four or five to settle at 8 KiB.
func shrinkStacks() (cycles int, stacks uint64) {
	stacks = stackInUse()
	for cycles < 8 {
		runtime.GC()
		cycles++
		now := stackInUse()
		if now >= stacks && cycles >= 2 {
			return cycles, now
		}
		stacks = min(stacks, now)
	}
	return cycles, stacks
}
