package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the hub's Prometheus metrics. Counters count since start.
type metrics struct {
	reg               *prometheus.Registry
	messagesStored    prometheus.Counter
	messagesDelivered prometheus.Counter
	messageBytes      prometheus.Counter
	handshakeFailures prometheus.Counter
	loginFailures     prometheus.Counter
}

func newMetrics(h *Hub) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "toyhub", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.messagesStored = counter("messages_stored_total", "Messages committed to the store.")
	m.messagesDelivered = counter("messages_delivered_total", "Deliveries completed (a recipient fetched a whole message).")
	m.messageBytes = counter("message_bytes_total", "Bytes of committed messages.")
	m.handshakeFailures = counter("tls_handshake_failures_total", "Refused TLS handshakes and MQTT connections.")
	m.loginFailures = counter("login_failures_total", "Failed web logins (wrong password or code).")
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "devices_connected", Help: "Devices connected to the broker."},
			func() float64 { return float64(h.connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "store_bytes", Help: "Size of the database, its WAL and shm."},
			func() float64 { return float64(h.storeBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "last_backup_age_seconds",
			Help: "Seconds since the last successful backup; -1 if there was none."},
			func() float64 {
				at, ok := h.lastBackup(context.Background())
				if !ok {
					return -1
				}
				return h.cfg.Now().Sub(at).Seconds()
			}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := h.health(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn)}))
	ln, err := net.Listen("tcp", h.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("hub: metrics: %w", err)
	}
	if ap := ln.Addr().(*net.TCPAddr); !ap.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("hub: metrics address %s is not loopback", ap)
	}
	h.metricsLn = ln
	h.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
	go func() { _ = h.metricsSrv.Serve(ln) }()
	h.log.Info("Metrics started", "metrics", ln.Addr().String())
	return nil
}

// MetricsAddr is where /healthz and /metrics are served, or "".
func (h *Hub) MetricsAddr() string {
	if h.metricsLn == nil {
		return ""
	}
	return h.metricsLn.Addr().String()
}

// sdNotify sends a state to systemd when it started the hub as
// Type=notify (NOTIFY_SOCKET set); otherwise it does nothing. It is the
// protocol of sd_notify(3), written here without cgo.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// watchdogInterval is half of the watchdog timeout systemd set for this
// process (WATCHDOG_USEC, for WATCHDOG_PID if given), or 0.
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// watchdog pings systemd while the hub is healthy; a hub whose store or
// broker hangs stops pinging, and systemd restarts it.
func (h *Hub) watchdog(every time.Duration) {
	defer h.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := h.health(h.ctx); err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.log.Error("Unhealthy: not pinging the watchdog", "error", err)
		} else if err := sdNotify("WATCHDOG=1"); err != nil {
			h.log.Warn("Watchdog not pinged", "error", err)
		}
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
	}
}
