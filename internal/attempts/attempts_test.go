package attempts

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var policy = Policy{Free: 3, First: 2 * time.Second, Max: 15 * time.Minute, Forget: time.Hour, Capacity: 1000}

// TestConcurrentReservations: guesses sent at once are counted as they
// are taken, so exactly the free ones get through.
func TestConcurrentReservations(t *testing.T) {
	l := New(policy)
	now := time.Now()
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 31 {
		wg.Go(func() {
			if _, ok := l.Reserve("mum", now, true); ok {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := passed.Load(); n != 3 {
		t.Fatalf("%d of 31 concurrent guesses got through, want 3", n)
	}
}

// TestClockOutOfOrder: guesses sent at once read the clock before they
// take the lock, so they may arrive with times out of order. The free
// attempts stay free, and the wait after them counts from the latest.
func TestClockOutOfOrder(t *testing.T) {
	l := New(policy)
	t0 := time.Now()
	for i, at := range []time.Duration{10 * time.Millisecond, 0, 5 * time.Millisecond} {
		if wait, ok := l.Reserve("k", t0.Add(at), false); !ok {
			t.Fatalf("free attempt %d, its clock read %v before the last: told to wait %v", i+1, 10*time.Millisecond-at, wait)
		}
	}
	if wait, ok := l.Reserve("k", t0.Add(5*time.Millisecond), false); ok || wait != 2*time.Second+5*time.Millisecond {
		t.Fatalf("the fourth: %v, %v; want to wait 2 s from the latest attempt", wait, ok)
	}
}

// TestWaits: the wait doubles after the free failures, up to the most;
// success forgets, a refund gives one back, and time forgets too.
func TestWaits(t *testing.T) {
	l := New(policy)
	now := time.Now()
	steps := []struct {
		name string
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{"first", 0, true, 0},
		{"second", 0, true, 0},
		{"third", 0, true, 0},
		{"fourth at once", 0, false, 2 * time.Second},
		{"after 2 s", 2 * time.Second, true, 0},
		{"the next waits 4 s", 3 * time.Second, false, 3 * time.Second},
		{"after 4 s", 6 * time.Second, true, 0},
		{"forgotten after an hour", 6*time.Second + time.Hour, true, 0},
		{"then free again", 6*time.Second + time.Hour, true, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wait, ok := l.Reserve("k", now.Add(s.at), false)
			if ok != s.ok || wait != s.wait {
				t.Fatalf("Reserve = %v, %v; want %v, %v", wait, ok, s.wait, s.ok)
			}
		})
	}
	for n, want := range map[int]time.Duration{0: 0, 2: 0, 3: 2 * time.Second, 4: 4 * time.Second, 30: 15 * time.Minute} {
		if got := policy.wait(n); got != want {
			t.Errorf("wait(%d) = %v, want %v", n, got, want)
		}
	}
	l.Refund("k")
	if got := l.Failures("k", now.Add(6*time.Second+time.Hour)); got != 1 {
		t.Fatalf("after a refund: %d failures, want 1", got)
	}
	l.Succeeded("k")
	if got := l.Failures("k", now); got != 0 {
		t.Fatalf("after success: %d failures", got)
	}
}

// TestFloodKeepsTheTarget: a flood of new keys, far beyond the capacity,
// neither grows the table nor frees the key under attack.
func TestFloodKeepsTheTarget(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("kept %v", keep), func(t *testing.T) {
			l := New(policy)
			now := time.Now()
			for range 10 {
				l.Reserve("mum", now, keep)
				now = now.Add(time.Millisecond)
			}
			wait := l.Wait("mum", now)
			if wait == 0 {
				t.Fatal("no wait after ten failures")
			}
			for i := range 100_000 {
				l.Reserve(fmt.Sprintf("stranger %d", i), now, false)
			}
			if n := l.Len(); n > policy.Capacity {
				t.Fatalf("%d keys held, capacity %d", n, policy.Capacity)
			}
			if got := l.Wait("mum", now); got != wait {
				t.Fatalf("after the flood the target waits %v, want %v", got, wait)
			}
		})
	}
}

// TestLimit: past the limit, a key waits until it is forgotten.
func TestLimit(t *testing.T) {
	p := Policy{Free: 2, First: time.Second, Max: time.Minute, Limit: 5, Forget: 24 * time.Hour, Capacity: 10}
	l := New(p)
	now := time.Now()
	n := 0
	for i := range 1000 {
		if _, ok := l.Reserve("mum", now.Add(time.Duration(i)*time.Minute), true); ok {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d failures in 1,000 minutes, want the limit of 5", n)
	}
	if _, ok := l.Reserve("mum", now.Add(1000*time.Minute+24*time.Hour), true); !ok {
		t.Fatal("not forgotten after a quiet day")
	}
}

func TestSource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.168.1.20", "192.168.1.20"},
		{"::ffff:192.168.1.20", "192.168.1.20"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		if got := Source(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("Source(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
