package connlimit

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestPerSource: an address gets its share of places and of new
// connections a second, and no more; others are not affected.
func TestPerSource(t *testing.T) {
	p := NewPerSource(2)
	a, b := netip.MustParseAddr("192.168.1.9"), netip.MustParseAddr("192.168.1.10")
	now := time.Now()
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"a's first place", func() bool { return p.Acquire(a) }, true},
		{"a's second place", func() bool { return p.Acquire(a) }, true},
		{"a has none left", func() bool { return p.Acquire(a) }, false},
		{"b is not affected", func() bool { return p.Acquire(b) }, true},
		{"a place given back", func() bool { p.Release(a); return p.Acquire(a) }, true},
		{"a's first new connection this second", func() bool { return p.AllowNew(a, now) }, true},
		{"a's second", func() bool { return p.AllowNew(a, now) }, true},
		{"a's third, too fast", func() bool { return p.AllowNew(a, now) }, false},
		{"a second later", func() bool { return p.AllowNew(a, now.Add(time.Second)) }, true},
		{"b's rate is its own", func() bool { return p.AllowNew(b, now) }, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := s.do(); got != s.want {
				t.Fatalf("got %v, want %v", got, s.want)
			}
		})
	}
}

// TestBucket: a burst is allowed, then tokens come back at the rate.
func TestBucket(t *testing.T) {
	now := time.Now()
	b := NewBucket(2, 2) // two a second, four at once
	b.last = now
	n := 0
	for b.Take(now) {
		n++
	}
	if n != 4 {
		t.Fatalf("burst of %d, want 4", n)
	}
	if b.Take(now.Add(100 * time.Millisecond)) {
		t.Fatal("a token after 100 ms at two a second")
	}
	if !b.Take(now.Add(600 * time.Millisecond)) {
		t.Fatal("no token after 600 ms at two a second")
	}
	if b.Full(now.Add(time.Second)) || !b.Full(now.Add(3*time.Second)) {
		t.Fatal("the bucket refills at its rate, to its burst")
	}
}

// TestSourceOf: IPv4 (mapped or not) counts by address, IPv6 by its /64,
// so that one machine cannot take a fresh place with each of its 2^64
// addresses.
func TestSourceOf(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.168.1.20:5000", "192.168.1.20"},
		{"[::ffff:192.168.1.20]:5000", "192.168.1.20"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:443", "fe80::"},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tt.remote)
			if got := SourceOf(net.TCPAddrFromAddrPort(ap)); got.String() != tt.want {
				t.Fatalf("SourceOf(%s) = %s, want %s", tt.remote, got, tt.want)
			}
		})
	}
}
