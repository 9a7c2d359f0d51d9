package web

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/internal/attempts"
)

// The web app limits every guess at a secret, with one limiter per
// purpose, so that nothing one purpose records can block another: a
// flood of wrong invite links slows no login, and a burst of logins with
// an empty name delays no invite.
//
// The rule for logins, after NIST SP 800-63B §5.2.2: each address (an
// IPv6 /64) has three free failures, then waits 2 s, 4 s, … up to 15
// minutes between attempts. Each account has ten free failures from
// addresses it has never logged in from; after them those addresses wait
// likewise, and after 100 in a day they are refused until a quiet day has
// passed. A browser or an address that has logged in to the account
// before skips the account's wait: a stranger guessing a mother's
// password slows the stranger, and never locks her out of her own phone.
type limits struct {
	loginSource  *attempts.Limiter // passwords at login, per address
	loginAccount *attempts.Limiter // passwords at login, per account, from unknown addresses
	code         *attempts.Limiter // the code at login, per account
	join         *attempts.Limiter // invite links and redemptions, per address
	setup        *attempts.Limiter // setup links, per address
	reauth       *attempts.Limiter // a logged-in account's password or code, per account
	known        *known
}

// newLimits makes the limiters; remote ones (the remote door's, where a
// stranger can be anywhere on the Internet) are stricter: fewer free
// attempts, and a longer wait.
func newLimits(remote bool) *limits {
	bySource := attempts.Policy{Free: 3, First: 2 * time.Second, Max: 15 * time.Minute, Forget: time.Hour, Capacity: 8192}
	byAccount := attempts.Policy{Free: 10, First: 2 * time.Second, Max: 15 * time.Minute, Limit: 100, Forget: 24 * time.Hour, Capacity: 4096}
	links := attempts.Policy{Free: 5, First: 2 * time.Second, Max: 15 * time.Minute, Forget: time.Hour, Capacity: 8192}
	if remote {
		bySource.Free, bySource.First, bySource.Max = 2, 5*time.Second, time.Hour
		byAccount.Free, byAccount.Limit = 5, 50
		links.Free, links.First, links.Max = 2, 30*time.Second, 6*time.Hour
	}
	return &limits{
		loginSource:  attempts.New(bySource),
		loginAccount: attempts.New(byAccount),
		code:         attempts.New(byAccount),
		join:         attempts.New(links),
		setup:        attempts.New(links),
		reauth:       attempts.New(bySource),
		known:        &known{max: 4096, m: map[string]time.Time{}},
	}
}

// source is the limiters' key for the request's address.
func source(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return attempts.Source(ap.Addr())
}

// known remembers the browsers (by a cookie) and the addresses that have
// logged in to each account, for a month, in memory.
type known struct {
	max int
	mu  sync.Mutex
	m   map[string]time.Time // "account browser|address" → last login; "*" for any account
}

const knownFor = 30 * 24 * time.Hour

func (k *known) add(now time.Time, account string, keys ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range keys {
		for len(k.m)+2 > k.max { // the oldest of a sample goes
			k.evict()
		}
		k.m[account+" "+key] = now
		k.m["* "+key] = now
	}
}

// evict forgets the oldest of a sample of 32 (Go's map iteration starts
// at a random place), with k.mu held.
func (k *known) evict() {
	var oldest string
	i := 0
	for key, t := range k.m {
		if oldest == "" || t.Before(k.m[oldest]) {
			oldest = key
		}
		if i++; i == 32 {
			break
		}
	}
	delete(k.m, oldest)
}

// any reports whether key has logged in to any account lately.
func (k *known) any(now time.Time, key string) bool { return k.has(now, "*", key) }

func (k *known) has(now time.Time, account string, keys ...string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range keys {
		if t, ok := k.m[account+" "+key]; ok && now.Sub(t) < knownFor {
			return true
		}
	}
	return false
}

// gate bounds work done at once (slots), and how many may queue for it:
// beyond the queue, a request is turned away at once rather than held.
type gate struct {
	slots   chan struct{}
	waiting atomic.Int32
	queue   int32
}

func newGate(slots, queue int) *gate {
	return &gate{slots: make(chan struct{}, slots), queue: int32(queue)}
}

// enter takes a slot, waiting in the queue if there is room in it; false
// when there is none, or the request ended while it waited.
func (g *gate) enter(ctx context.Context) bool {
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return false
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *gate) leave() { <-g.slots }

// quota lets a burst of like audit entries through each window and
// counts the rest, so that a flood of refusals cannot fill the disk with
// the audit log: it is written one by one up to the burst, then as one
// count per window.
type quota struct {
	burst  int
	window time.Duration
	mu     sync.Mutex
	start  time.Time
	n      int
	more   int
}

// take reports whether one more entry may be written now; when a new
// window starts, more is how many the last one did not write.
func (q *quota) take(now time.Time) (ok bool, more int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.start) >= q.window {
		more, q.more = q.more, 0
		q.start, q.n = now, 0
	}
	if q.n < q.burst {
		q.n++
		return true, more
	}
	q.more++
	return false, more
}
