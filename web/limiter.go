package web

import (
	"sync"
	"time"
)

// loginLimiter slows guessing: after three failures for an account or
// from an address, each further attempt must wait twice as long as the
// last (2 s, 4 s, … up to 15 minutes). Success clears the account's count.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{fails: map[string]*failures{}} }

func delay(n int) time.Duration {
	if n < 3 {
		return 0
	}
	return min(time.Second<<(n-2), 15*time.Minute)
}

func (l *loginLimiter) wait(account, ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, k := range []string{"a:" + account, "i:" + ip} {
		if f := l.fails[k]; f != nil {
			if now.Sub(f.last) > time.Hour {
				delete(l.fails, k)
				continue
			}
			longest = max(longest, f.last.Add(delay(f.n)).Sub(now))
		}
	}
	return longest
}

func (l *loginLimiter) failed(account, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 10000 {
		l.fails = map[string]*failures{} // a flood of names: start over rather than grow
	}
	for _, k := range []string{"a:" + account, "i:" + ip} {
		f := l.fails[k]
		if f == nil {
			f = &failures{}
			l.fails[k] = f
		}
		f.n++
		f.last = now
	}
}

func (l *loginLimiter) succeeded(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "a:"+account)
}
