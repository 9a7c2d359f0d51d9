// Package live tells the web app's open pages that something they show
// has changed, so that they fetch themselves again. A change carries
// device IDs only, never content: each page reloads what its viewer may
// see, authorized as any request.
//
// A Feed is safe for concurrent use; Publish never blocks.
package live

import "sync"

// Feed fans changes out to the watchers of the moment.
type Feed struct {
	mu   sync.Mutex
	subs map[chan []string]struct{}
}

// Publish says that something about these devices changed (none: anything
// may have, such as a self-check's result).
func (f *Feed) Publish(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- ids:
		default: // a slow page catches up at its next change
		}
	}
}

// Watch receives changes until stop is called.
func (f *Feed) Watch() (changes <-chan []string, stop func()) {
	ch := make(chan []string, 16)
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[chan []string]struct{}{}
	}
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}
