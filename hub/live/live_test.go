package live

import (
	"slices"
	"testing"
)

// TestFeed: every watcher hears of a change; a stopped one no longer
// does; a watcher that does not read never blocks the publisher.
func TestFeed(t *testing.T) {
	var f Feed
	a, stopA := f.Watch()
	b, stopB := f.Watch()
	f.Publish("teddy", "gran")
	for _, ch := range []<-chan []string{a, b} {
		if got := <-ch; !slices.Equal(got, []string{"teddy", "gran"}) {
			t.Fatalf("got %v", got)
		}
	}
	stopB()
	for range 100 { // far beyond a's buffer: Publish must not block
		f.Publish()
	}
	select {
	case <-b:
		t.Fatal("a stopped watcher heard of a change")
	default:
	}
	if len(a) == 0 {
		t.Fatal("a live watcher heard nothing")
	}
	stopA()
}
