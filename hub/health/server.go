package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gauges are read at each scrape.
type Gauges struct {
	Connected  func() int   // devices connected to the broker
	StoreBytes func() int64 // the database, its WAL and shm
	// BackupAge is the time since the last successful backup, if any.
	BackupAge func() (time.Duration, bool)
}

// Server serves /healthz and /metrics, and nothing else, on a loopback
// listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// NewServer serves on ln, which must be a loopback address; healthy says
// why the hub is unwell, or nil.
func NewServer(ln net.Listener, c *Counters, g Gauges, healthy func(context.Context) error, log *slog.Logger) (*Server, error) {
	if ap, ok := ln.Addr().(*net.TCPAddr); !ok || !ap.IP.IsLoopback() {
		return nil, fmt.Errorf("metrics address %s is not loopback", ln.Addr())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.all()...)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "devices_connected", Help: "Devices connected to the broker."},
			func() float64 { return float64(g.Connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "store_bytes", Help: "Size of the database, its WAL and shm."},
			func() float64 { return float64(g.StoreBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "toyhub", Name: "last_backup_age_seconds",
			Help: "Seconds since the last successful backup; -1 if there was none."},
			func() float64 {
				age, ok := g.BackupAge()
				if !ok {
					return -1
				}
				return age.Seconds()
			}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := healthy(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}, nil
}

// Serve serves until Close.
func (s *Server) Serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.srv.ErrorLog.Print(err)
	}
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }
