package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

func (h *Hub) storeBytes() int64 {
	var n int64
	for _, f := range h.store.Files() {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// healthy reports why the hub is unwell, or nil: the store must answer a
// write-path round trip, and the broker's listener must be open. (It does
// not connect to the broker: each check would be a refused handshake.)
func (h *Hub) healthy(ctx context.Context) error {
	if h.ctx.Err() != nil {
		return errors.New("stopping")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !h.broker.Listening() {
		return errors.New("broker: not listening")
	}
	return nil
}
