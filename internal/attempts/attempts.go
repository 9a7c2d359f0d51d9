// Package attempts limits guessing: failed attempts at a secret (a
// password, a code, an invite) per key, such as an account or a client's
// address, with a wait that doubles after a few free failures.
//
// An attempt is reserved before the expensive check, and counts as a
// failure from that moment: N guesses sent at once cost N attempts, and
// those beyond the free ones wait, whatever their timing. An attempt
// that succeeds, or that was not a guess at all, is given back.
//
// Memory is bounded: past Capacity keys, the least useful entries go
// (those with the fewest failures, the oldest first, sampled), never the
// whole table, so a flood of new keys cannot wipe out what is counted
// against the key under attack. Kept keys (real accounts) go last.
//
// A Limiter is safe for concurrent use.
package attempts

import (
	"net/netip"
	"sync"
	"time"
)

// Policy says how a limiter counts.
type Policy struct {
	// Free failures come without a wait; each further one waits twice as
	// long as the one before: First, 2×First, … up to Max.
	Free  int
	First time.Duration
	Max   time.Duration
	// Limit, when not 0, is the most failures a key may have: beyond it,
	// the key waits until it is forgotten.
	Limit int
	// Forget is how long after its last failure a key is forgotten.
	Forget time.Duration
	// Capacity is how many keys are kept at most.
	Capacity int
}

// Limiter counts failures per key under a Policy.
type Limiter struct {
	p  Policy
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	n    int       // failures, reserved attempts included
	last time.Time // of the newest failure
	keep bool      // evicted only after every other
}

// New makes a limiter.
func New(p Policy) *Limiter { return &Limiter{p: p, m: map[string]*entry{}} }

// wait is how long the n-th failure's successor must wait after it.
func (p Policy) wait(n int) time.Duration {
	if p.Limit > 0 && n >= p.Limit {
		return p.Forget
	}
	if n < p.Free {
		return 0
	}
	d := p.First
	for i := p.Free; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Reserve takes an attempt for key at now. When the key must wait, ok is
// false and wait says how long; otherwise the attempt counts as a failure
// until Succeeded or Refund gives it back. keep marks a key worth keeping
// over others when memory is short (a real account's).
func (l *Limiter) Reserve(key string, now time.Time, keep bool) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e != nil && now.Sub(e.last) >= l.p.Forget {
		e.n = 0
	}
	// Attempts sent at once read the clock before they take the lock, so
	// a later one may come with an earlier time: that is no reason to
	// wait while attempts are still free, nor to move the last back.
	if e != nil && e.n > 0 {
		if d := l.p.wait(e.n); d > 0 {
			if w := e.last.Add(d).Sub(now); w > 0 {
				return w, false
			}
		}
	}
	if e == nil {
		l.evict(now)
		e = &entry{}
		l.m[key] = e
	}
	e.n++
	if now.After(e.last) {
		e.last = now
	}
	e.keep = e.keep || keep
	return 0, true
}

// Wait is how long key must wait now, without taking an attempt.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil || e.n == 0 || now.Sub(e.last) >= l.p.Forget {
		return 0
	}
	return max(0, e.last.Add(l.p.wait(e.n)).Sub(now))
}

// Failures is how many failures key has now.
func (l *Limiter) Failures(key string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil && now.Sub(e.last) < l.p.Forget {
		return e.n
	}
	return 0
}

// Succeeded ends a reserved attempt that succeeded: the key's failures
// are forgotten.
func (l *Limiter) Succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// Refund gives back a reserved attempt that was not a guess (a form the
// check never read, such as two passwords that differ).
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil && e.n > 0 {
		e.n--
	}
}

// Len is how many keys the limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// evict makes room for one more key, with l.mu held: it forgets what has
// expired among a sample, and if that is not enough, the least useful
// entry of the sample. Go's map iteration starts at a random place, so
// the sample is random.
func (l *Limiter) evict(now time.Time) {
	if len(l.m) < l.p.Capacity {
		return
	}
	var victim string
	var worst *entry
	i := 0
	for k, e := range l.m {
		if now.Sub(e.last) >= l.p.Forget {
			delete(l.m, k)
			return
		}
		if worst == nil || less(e, worst) {
			victim, worst = k, e
		}
		if i++; i == 32 {
			break
		}
	}
	delete(l.m, victim)
}

// less reports whether a is less useful to keep than b.
func less(a, b *entry) bool {
	if a.keep != b.keep {
		return !a.keep
	}
	if a.n != b.n {
		return a.n < b.n
	}
	return a.last.Before(b.last)
}

// Source is the key of a client's address: the address itself for IPv4,
// its /64 for IPv6, where one machine commonly holds a whole /64.
func Source(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
