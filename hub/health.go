package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/toyhub/toyhub/hub/health"
)

func (h *Hub) connected() int {
	n := 0
	for _, cl := range h.broker.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			n++
		}
	}
	return n
}

func (h *Hub) storeBytes() int64 {
	var n int64
	for _, f := range h.store.Files() {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// health reports why the hub is unwell, or nil: the store must answer a
// write-path round trip, and the broker's listener must be open. (It does
// not connect to the broker: each check would be a refused handshake.)
func (h *Hub) health(ctx context.Context) error {
	if h.ctx.Err() != nil {
		return errors.New("stopping")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if h.lis == nil || h.lis.closed.Load() {
		return errors.New("broker: not listening")
	}
	return nil
}

// startMetrics serves /healthz and /metrics on the (loopback) metrics
// address, and nothing else.
func (h *Hub) startMetrics() error {
	if h.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", h.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("hub: metrics: %w", err)
	}
	srv, err := health.NewServer(ln, h.metrics, health.Gauges{
		Connected:  h.connected,
		StoreBytes: h.storeBytes,
		BackupAge: func() (time.Duration, bool) {
			at, ok := h.lastBackup(context.Background())
			return h.cfg.Now().Sub(at), ok
		},
	}, h.health, h.log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("hub: %w", err)
	}
	h.metricsSrv = srv
	go srv.Serve()
	h.log.Info("Metrics started", "metrics", srv.Addr())
	return nil
}

// MetricsAddr is where /healthz and /metrics are served, or "".
func (h *Hub) MetricsAddr() string {
	if h.metricsSrv == nil {
		return ""
	}
	return h.metricsSrv.Addr()
}
