package hub

import "context"

// Hooks for the tests of package hub_test, compiled into the test binary
// only.

// WatchLive receives what the hub tells open pages, until stop is called.
func (h *Hub) WatchLive() (<-chan []string, func()) { return h.live.Watch() }

// SyncStore returns once every write queued before it (audit events
// included) is durable: the store's writer serves its queue in order.
func (h *Hub) SyncStore() error { return h.store.Checkpoint(context.Background()) }
