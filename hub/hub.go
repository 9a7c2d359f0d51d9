package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/broker"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/discovery"
	"github.com/toyhub/toyhub/hub/enroll"
	"github.com/toyhub/toyhub/hub/health"
	"github.com/toyhub/toyhub/hub/household"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/hub/live"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/hub/selfcheck"
	"github.com/toyhub/toyhub/hub/servercert"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Hub is a running household hub: the parts New builds, in the order it
// builds them.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // ends when the hub stops
	cancel context.CancelFunc

	lock     *os.File
	store    *store.Store
	ca       *certs.CA
	cert     *servercert.Cert // the LAN's
	remCert  *servercert.Cert // the remote door's: the LAN's names and the public one
	sockets  sockets
	live     live.Feed
	metrics  *health.Counters
	refusals *selfcheck.Refusals
	issuer   *enroll.Issuer
	broker   *broker.Broker
	windows  *enroll.Windows
	checks   *selfcheck.Checker
	service  *household.Service
	enroll   *enroll.Server
	web      *webDoor // nil when the web app is off
	remote   *remote.Manager
	remoteIn remoteParts
	probes   *audit.Probes // the self-check's own connections
	health   *health.Server
	stop     stopper

	closers   []func() // see onClose
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New opens (or on first start, creates) everything in the data directory
// (the database and master key, the household CA and the server
// certificate), binds every socket, and builds every part of the hub,
// each from what it needs. It serves nothing yet; see Start.
func New(cfg Config) (_ *Hub, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("hub: configuration: %w", err)
	}
	if cfg.BackupDir != "" && !slices.Contains(cfg.BackupDirs, cfg.BackupDir) {
		cfg.BackupDirs = append(slices.Clone(cfg.BackupDirs), cfg.BackupDir) // the self-check searches it
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, stop: stopper{req: make(chan struct{})}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			h.closeOnce.Do(func() { h.shutdown() })
		}
	}()
	if err := h.open(); err != nil {
		return nil, err
	}
	if err := h.bind(); err != nil {
		return nil, err
	}
	if err := h.build(); err != nil {
		return nil, err
	}
	return h, nil
}

// open takes the data directory: its lock, the store, the CA and the
// server certificate.
func (h *Hub) open() (err error) {
	cfg, dir := h.cfg, h.cfg.Dir()
	for _, d := range []string{dir.Path, dir.Keys()} {
		if err := store.EnsureDir(d); err != nil {
			return err
		}
	}
	if h.lock, err = dir.Lock(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.onClose(func() { h.lock.Close() })
	h.store, err = store.Open(h.ctx, store.Options{
		Path: dir.DB(), MasterKeyPath: dir.MasterKey(),
		MaxUploadsPerDevice: cfg.MaxUploadsPerDevice, Now: cfg.Now,
		MaxMessagesPerMinute: cfg.MaxMessagesPerMinute, MaxBytesPerDay: cfg.MaxBytesPerDay,
		MinFreeBytes: storeReserve(cfg.MinFreeBytes),
	})
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.onClose(func() {
		if err := h.store.Close(); err != nil {
			h.log.Error("Store not closed cleanly", "error", err)
		}
	})
	if n, err := h.store.EnsureDevices(h.ctx, wire.NewDeviceID); err != nil {
		return fmt.Errorf("hub: %w", err)
	} else if n > 0 {
		h.log.Info("Accounts given device identities", "accounts", n)
	}
	if h.ca, err = h.loadCA(); err != nil {
		return err
	}
	h.cert, err = servercert.New(servercert.Options{CertFile: dir.ServerCert(), KeyFile: dir.ServerKey(),
		Validity: cfg.ServerCertValidity, CA: h.ca, Names: lan.ServerNames, Log: h.log, Now: cfg.Now})
	if err != nil {
		return err
	}
	h.remCert, err = servercert.New(servercert.Options{CertFile: dir.RemoteCert(), KeyFile: dir.RemoteKey(),
		Validity: cfg.ServerCertValidity, CA: h.ca, Names: h.remoteNames, Log: h.log, Now: cfg.Now})
	return err
}

// build makes every part from the parts before it. The parts stop in
// reverse order (onClose).
func (h *Hub) build() (err error) {
	cfg, s := h.cfg, &h.sockets
	addrs := addresses{cfg: cfg, mqtt: addrOf(s.mqtt), enroll: addrOf(s.enroll), webLn: addrOf(s.web), public: h.remotePublic}
	h.metrics = health.NewCounters()
	h.refusals = selfcheck.NewRefusals(cfg.Now)
	probes := audit.NewProbes() // the self-check's own connections, which listeners do not report
	h.probes = probes
	h.issuer = enroll.NewIssuer(h.ca, h.store, cfg.DeviceCertValidity, cfg.Now, h.log)
	if h.broker, err = broker.New(broker.Config{HandshakeTimeout: cfg.HandshakeTimeout, MaxHandshakes: cfg.MaxHandshakes,
		MaxPerSource: cfg.MaxPerSource, MaxConnections: cfg.MaxConnections, BytesPerSecond: cfg.MaxConnBytesPerSecond,
		PacketsPerSecond: cfg.MaxConnPacketsPerSecond, MaxKeepalive: cfg.MaxKeepalive, MaxMessageBytes: cfg.MaxMessageBytes,
		MaxDuration: cfg.MaxDuration, MaxChunk: cfg.MaxChunk, StaleUploadAge: cfg.StaleUploadAge, QuietEvery: cfg.QuietEvery, Now: cfg.Now,
	}, s.mqtt, broker.Deps{Store: h.store, Cert: h.cert.Get, CAs: h.ca.Pool(), Renewer: h.issuer, Metrics: h.metrics,
		Refusals: h.refusals, Probes: probes, Live: &h.live, Log: h.log}); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.onClose(h.broker.Close)
	h.buildRemote()
	if err := h.broker.Remote(h.remoteIn.mqtt); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.windows = enroll.NewWindows(cfg.PairingWindow, cfg.Now)
	h.checks = selfcheck.New(selfcheck.Config{Every: cfg.AuditEvery, StartDelay: cfg.AuditStartDelay, AfterChange: cfg.AuditAfterChange,
		Network: cfg.AuditNetwork, Targets: cfg.AuditTargets, Now: cfg.Now,
	}, selfcheck.Deps{Store: h.store, Issuer: h.issuer, CAs: h.ca.Pool(), Connections: h.broker, Listeners: h.listeners,
		WebRoutes: h.webRoutes(), Files: h.files(), Refusals: h.refusals, Probes: probes, Live: &h.live, Log: h.log})
	h.onClose(h.checks.Close)
	dir := cfg.Dir()
	h.service = household.New(household.Config{InviteExpiry: cfg.InviteExpiry, MaxInviteExpiry: cfg.MaxInviteExpiry,
		RetentionEvery: cfg.RetentionEvery, Version: cfg.Version, Now: cfg.Now,
	}, household.Deps{Store: h.store, DataDir: dir.Path, MasterKey: dir.MasterKey(), Issuer: h.issuer, Connections: h.broker,
		Messages: h.broker, Pairing: h.windows, Checks: h.checks, Live: &h.live, Addresses: addrs, Stopper: &h.stop, Remote: h.remote, Log: h.log})
	h.enroll = enroll.NewServer(enroll.Config{FailuresPerSource: cfg.EnrollFailuresPerSource,
		FailureWindow: cfg.EnrollFailureWindow, PerSource: cfg.EnrollPerSource, MQTT: addrs.MQTT, Now: cfg.Now,
	}, s.enroll, enroll.Deps{Store: h.store, Issuer: h.issuer, Windows: h.windows, Household: h.service, Cert: h.cert.Get, Log: h.log})
	h.onClose(h.enroll.Close)
	if s.web != nil {
		if d, err := newWebDoor(h); err != nil {
			h.log.Error("Web app not started", "web", addrOf(s.web), "error", err)
		} else {
			h.web = d
			h.onClose(d.close)
		}
	}
	if s.metrics != nil {
		srv, err := health.NewServer(s.metrics, h.metrics, health.Gauges{
			Connected:  h.broker.Connected,
			StoreBytes: h.storeBytes,
			BackupAge: func() (time.Duration, bool) {
				at, ok := archive.LastBackup(context.Background(), h.store)
				return h.cfg.Now().Sub(at), ok
			},
		}, h.healthy, h.log)
		if err != nil {
			h.log.Error("Metrics not started", "metrics", addrOf(s.metrics), "error", err)
		} else {
			h.health = srv
			h.onClose(func() { srv.Close() })
		}
	}
	h.onClose(h.remote.Close) // first to close: the router forgets the mapping
	return nil
}

// loadCA loads the household CA, creating it on first start, and gives
// its certificate the scope of this hub's names (caScope), re-issuing it
// with the same key when they changed. Once the database has recorded a
// CA's key, a missing or different one is refused: every device has
// pinned it.
func (h *Hub) loadCA() (*certs.CA, error) {
	d := h.cfg.Dir()
	pin, err := h.caPin()
	if err != nil {
		return nil, err
	}
	if pin == "" {
		ca, created, err := certs.LoadOrCreateCA(d.CACert(), d.CAKey(), h.caScope(), h.cfg.Now())
		if err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
		if err := h.store.SetMeta(h.ctx, "ca_pin", []byte(certs.Pin(ca.Cert))); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
		if created {
			h.log.Info("Household CA created", "code", ca.Code())
		}
		return ca, nil
	}
	ca, err := certs.LoadCA(d.CACert(), d.CAKey())
	if err != nil {
		return nil, fmt.Errorf("hub: the household CA is missing or damaged (%w); restore %s and %s from a backup: a new CA would lock out every device", err, d.CACert(), d.CAKey())
	}
	if certs.Pin(ca.Cert) != pin {
		return nil, fmt.Errorf("hub: %s is not the CA this hub's devices trust; restore the right one from a backup", d.CACert())
	}
	if err := ca.RescopeFile(d.CACert(), h.caScope(), h.cfg.Now()); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return ca, nil
}

// caPin is the key of the CA the database recorded, or "" before the
// first start. A database from before name constraints recorded the
// certificate's fingerprint instead, which a re-issue changes: that is
// checked against the certificate on disk once, and the key recorded.
func (h *Hub) caPin() (string, error) {
	pin, err := h.store.Meta(h.ctx, "ca_pin")
	if err == nil {
		return string(pin), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("hub: %w", err)
	}
	old, err := h.store.Meta(h.ctx, "ca_fingerprint")
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	d := h.cfg.Dir()
	ca, err := certs.LoadCA(d.CACert(), d.CAKey())
	if err != nil {
		return "", fmt.Errorf("hub: the household CA is missing or damaged (%w); restore %s and %s from a backup: a new CA would lock out every device", err, d.CACert(), d.CAKey())
	}
	if ca.Fingerprint() != string(old) {
		return "", fmt.Errorf("hub: %s is not the CA this hub's devices trust (%s); restore the right one from a backup", d.CACert(), old)
	}
	pinned := certs.Pin(ca.Cert)
	if err := h.store.SetMeta(h.ctx, "ca_pin", []byte(pinned)); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	return pinned, nil
}

// caScope is what the household CA may vouch for: this machine's name,
// the names and addresses a parent configured for devices and for remote
// access, mDNS names, localhost and the home network's address ranges.
func (h *Hub) caScope() certs.Scope {
	names := []string{lan.Hostname()}
	for _, hp := range h.cfg.AdvertiseHosts {
		if host, _, err := net.SplitHostPort(hp); err == nil {
			names = append(names, host)
		}
	}
	if rs, err := remote.LoadSettings(h.ctx, h.store, h.cfg.Remote); err == nil && rs.Host != "" {
		names = append(names, rs.Host)
	}
	return certs.HomeScope(names...)
}

// Start serves every socket and begins the hub's upkeep.
func (h *Hub) Start() error {
	h.checkClock()
	if err := h.broker.Start(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.enroll.Start()
	ctl, err := control.Listen(h.ctx, h.cfg.Dir().ControlSocket(), h.console(), h.log)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.onClose(ctl.Close)
	h.wg.Go(h.maintain)
	h.wg.Go(func() { h.service.Run(h.ctx) })
	h.checks.Start()
	if h.cfg.Discovery {
		adv := discovery.New(discovery.Options{Interfaces: h.cfg.DiscoveryInterfaces, Refresh: h.cfg.DiscoveryRefresh,
			MQTTAddr: h.MQTTAddr(), EnrollAddr: h.EnrollAddr(), CA: h.ca.Cert, Log: h.log})
		go adv.Run()
		h.onClose(adv.Close)
	}
	h.log.Info("Hub started", "version", h.cfg.Version, "mqtt", h.MQTTAddr(), "enroll", h.EnrollAddr(), "data", h.cfg.DataDir, "ca", h.ca.Code())
	if h.web != nil {
		h.web.start()
	}
	if err := h.remote.Start(h.ctx); err != nil {
		h.log.Error("Remote access not started", "error", err)
	}
	if h.health != nil {
		go h.health.Serve()
		h.log.Info("Metrics started", "metrics", h.health.Addr())
	}
	if every := health.WatchdogInterval(); every > 0 {
		h.wg.Go(func() { health.Watchdog(h.ctx, every, h.healthy, h.log) })
	}
	if err := health.Notify("READY=1\nSTATUS=serving"); err != nil {
		h.log.Warn("systemd not told the hub is ready", "error", err)
	}
	return nil
}

// Run starts the hub and serves until ctx is done or the console asks it
// to stop; after "delete everything", it deletes the household and
// returns ErrWiped.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Start(); err != nil {
		h.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-h.stop.req:
	}
	err := h.Close()
	if h.stop.restart.Load() && err == nil {
		return ErrRestart
	}
	if h.stop.wipe.Load() {
		if err := h.destroy(); err != nil {
			return err
		}
		h.log.Warn("Everything was deleted; the next start makes a new household")
		return ErrWiped
	}
	return err
}

// Close stops serving, disconnects every device, and closes the store.
func (h *Hub) Close() error {
	var err error
	h.closeOnce.Do(func() {
		err = h.shutdown()
		h.log.Info("Hub stopped")
	})
	return err
}

// onClose adds a step to shutdown. Steps run in reverse order of their
// adding, so each part stops before anything it was built from.
func (h *Hub) onClose(f func()) { h.closers = append(h.closers, f) }

func (h *Hub) shutdown() error {
	_ = health.Notify("STOPPING=1")
	h.cancel() // the upkeep loops end; requests under way are cut short
	h.wg.Wait()
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
	return nil
}

// storeReserve maps the configured reserve (0: none) to the store's
// option (0: its default, negative: none).
func storeReserve(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// remoteNames are the names and addresses the remote door's certificate
// covers: the machine's (lan.ServerNames) and, with remote access on, the
// name the Internet reaches it by.
func (h *Hub) remoteNames() ([]string, []netip.Addr) {
	dns, ips := lan.ServerNames()
	if host, _, err := net.SplitHostPort(h.remotePublic()); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			ips = append(ips, a)
		} else {
			dns = append(dns, host)
		}
	}
	return dns, ips
}
