package hub

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/connlimit"
	"github.com/toyhub/toyhub/hub/discovery"
	"github.com/toyhub/toyhub/hub/health"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/hub/live"
	"github.com/toyhub/toyhub/hub/servercert"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

// Hub is a running household hub.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	lock       *os.File
	store      *store.Store
	ca         *certs.CA
	cert       *servercert.Cert
	broker     *mqtt.Server
	lis        *tlsListener
	router     *router
	refusalLog *connlimit.LogLimiter // connection refusals: a flood logs a count, not a line each
	ctl        *controlServer
	enroll     *enroller
	adv        *discovery.Advertiser // nil unless Discovery is on
	web        *web.Server           // nil unless WebAddr is set
	webLn      net.Listener
	redirect   *http.Server // plain HTTP that only redirects, if configured
	redirectLn net.Listener
	metricsSrv *health.Server // /healthz and /metrics, on loopback
	metrics    *health.Counters
	// refusals counts refused handshakes and connections for the audit.
	refusals     refusals
	auditMu      sync.Mutex // one self-check at a time
	auditing     atomic.Bool
	auditTimerMu sync.Mutex
	auditTimer   *time.Timer
	// changes tells the web app's live pages what changed.
	changes live.Feed

	wg        sync.WaitGroup
	closeOnce sync.Once
	stopReq   chan struct{} // closed when the console asks the hub to stop
	stopOnce  sync.Once
	wipe      atomic.Bool // delete everything once stopped
}

// New opens (or on first start, creates) everything in the data directory:
// the database and master key, the household CA and the server
// certificate. It does not listen yet; see Start.
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
	h := &Hub{cfg: cfg, log: cfg.Logger, stopReq: make(chan struct{})}
	h.refusalLog = connlimit.NewLogLimiter(cfg.Logger, 20, time.Minute)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			h.release()
		}
	}()

	if err := store.EnsureDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := store.EnsureDir(cfg.Dir().Keys()); err != nil {
		return nil, err
	}
	if h.lock, err = cfg.Dir().Lock(); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h.store, err = store.Open(h.ctx, store.Options{
		Path: cfg.Dir().DB(), MasterKeyPath: cfg.Dir().MasterKey(),
		MaxUploadsPerDevice: cfg.MaxUploadsPerDevice, Now: cfg.Now,
		MaxMessagesPerMinute: cfg.MaxMessagesPerMinute, MaxBytesPerDay: cfg.MaxBytesPerDay,
		MinFreeBytes: storeReserve(cfg.MinFreeBytes),
	})
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if n, err := h.store.EnsureDevices(h.ctx, wire.NewDeviceID); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	} else if n > 0 {
		h.log.Info("Accounts given device identities", "accounts", n)
	}
	if h.ca, err = h.loadCA(); err != nil {
		return nil, err
	}
	if h.cert, err = servercert.New(servercert.Options{CertFile: cfg.Dir().ServerCert(), KeyFile: cfg.Dir().ServerKey(),
		Validity: cfg.ServerCertValidity, CA: h.ca, Names: lan.ServerNames, Log: h.log, Now: cfg.Now}); err != nil {
		return nil, err
	}
	h.broker = newBroker(cfg, h.log)
	h.router = newRouter(h.ctx, cfg, h.store, h.broker, h.log)
	h.router.renew = h.renew
	h.router.changed = h.changes.Publish
	h.metrics = health.NewCounters()
	h.router.metrics = h.metrics
	h.enroll = newEnroller(h)
	if err := h.broker.AddHook(&authHook{h: h}, nil); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return h, nil
}

// loadCA loads the household CA, creating it on first start. Once the
// database has recorded a CA, a missing or different one is refused:
// every device has pinned it.
func (h *Hub) loadCA() (*certs.CA, error) {
	recorded, err := h.store.Meta(h.ctx, "ca_fingerprint")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if recorded != nil {
		ca, err := certs.LoadCA(h.cfg.Dir().CACert(), h.cfg.Dir().CAKey())
		if err != nil {
			return nil, fmt.Errorf("hub: the household CA is missing or damaged (%w); restore %s and %s from a backup: a new CA would lock out every device", err, h.cfg.Dir().CACert(), h.cfg.Dir().CAKey())
		}
		if ca.Fingerprint() != string(recorded) {
			return nil, fmt.Errorf("hub: %s is not the CA this hub's devices trust (%s); restore the right one from a backup", h.cfg.Dir().CACert(), recorded)
		}
		return ca, nil
	}
	ca, created, err := certs.LoadOrCreateCA(h.cfg.Dir().CACert(), h.cfg.Dir().CAKey(), h.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := h.store.SetMeta(h.ctx, "ca_fingerprint", []byte(ca.Fingerprint())); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if created {
		h.log.Info("Household CA created", "fingerprint", ca.Fingerprint())
	}
	return ca, nil
}

// Start binds the broker and the control socket and begins serving.
func (h *Hub) Start() error {
	h.checkClock()
	tlsCfg := certs.ServerTLS(h.cert.Get, h.ca.Pool(), h.verifyConnection)
	tlsCfg.Time = h.cfg.Now // certificates are judged by the hub's clock, as everything else
	h.lis = newTLSListener("mqtts", h.cfg.MQTTAddr, tlsCfg, h.cfg.HandshakeTimeout, h.cfg.MaxHandshakes, h.cfg.MaxPerSource,
		connLimits{BytesPerSecond: float64(h.cfg.MaxConnBytesPerSecond), PacketsPerSecond: float64(h.cfg.MaxConnPacketsPerSecond)}, h.handshakeRefused)
	h.lis.disconnectAll = func(id string) {
		for _, cl := range h.broker.Clients.GetAll() { // one read lock, unlike GetByListener
			if cl.Net.Listener == id && !cl.Closed() {
				_ = h.broker.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	}
	if err := h.lis.Init(nil); err != nil {
		return fmt.Errorf("hub: listen on %s: %w", h.cfg.MQTTAddr, err)
	}
	if err := h.broker.AddListener(h.lis); err != nil {
		h.lis.ln.Close()
		return fmt.Errorf("hub: %w", err)
	}
	if err := h.enroll.listen(); err != nil {
		h.lis.ln.Close()
		return err
	}
	ctl, err := listenControl(h, ControlSocket(h.cfg.DataDir))
	if err != nil {
		h.lis.ln.Close()
		h.enroll.close()
		return err
	}
	h.ctl = ctl
	if err := h.broker.Serve(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.wg.Add(3)
	go h.maintain()
	go h.parentLoops()
	go h.reclaim()
	if h.cfg.Discovery {
		h.adv = discovery.New(discovery.Options{Interfaces: h.cfg.DiscoveryInterfaces, Refresh: h.cfg.DiscoveryRefresh,
			MQTTAddr: h.lis.Address(), EnrollAddr: h.enroll.addr(), CA: h.ca.Cert, Log: h.log})
		go h.adv.Run()
	}
	h.log.Info("Hub started", "version", h.cfg.Version, "mqtt", h.lis.Address(), "enroll", h.enroll.addr(), "data", h.cfg.DataDir, "ca", h.ca.Fingerprint())
	if h.cfg.WebAddr != "" {
		if err := h.startWeb(); err != nil {
			h.log.Error("Web app not started", "web", h.cfg.WebAddr, "error", err)
		}
	}
	if err := h.startMetrics(); err != nil {
		h.log.Error("Metrics not started", "metrics", h.cfg.MetricsAddr, "error", err)
	}
	if every := health.WatchdogInterval(); every > 0 {
		h.wg.Go(func() { health.Watchdog(h.ctx, every, h.health, h.log) })
	}
	if err := health.Notify("READY=1\nSTATUS=serving"); err != nil {
		h.log.Warn("systemd not told the hub is ready", "error", err)
	}
	return nil
}

// Run starts the hub and serves until ctx is done.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Start(); err != nil {
		h.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-h.stopReq:
	}
	err := h.Close()
	if h.wipe.Load() {
		if err := h.destroy(); err != nil {
			return err
		}
		h.log.Warn("Everything was deleted; the next start makes a new household")
		return ErrWiped
	}
	return err
}

// startWeb serves the web app over HTTPS and, while no owner account
// exists, logs a one-time setup link.
func (h *Hub) startWeb() error {
	srv, err := web.New(web.Config{
		TLS: certs.WebTLS(h.cert.Get), CAPEM: h.ca.PEM, CAFingerprint: h.ca.Fingerprint(),
		PasswordContext: h.passwordContext, Logger: h.log, Now: h.cfg.Now,
	}, h.store, webHub{h})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", h.cfg.WebAddr)
	if err != nil {
		return err
	}
	h.web, h.webLn = srv, ln
	// Connections held open (a slowloris) end at the server's header
	// timeout; meanwhile one address may hold only its share.
	limited := connlimit.NewListener(ln, connlimit.NewPerSource(h.cfg.MaxPerSource), func(remote string) {
		h.refused(remote)
		if h.refusalLog.Allow(time.Now()) {
			h.log.Warn("Web connection refused", "remote", remote, "reason", "too many connections from this address")
		}
	})
	go func() {
		if err := srv.Serve(limited); err != nil {
			h.log.Error("Web app stopped", "error", err)
		}
	}()
	h.log.Info("Web app started", "web", ln.Addr().String())
	if h.cfg.HTTPRedirectAddr != "" {
		rln, err := net.Listen("tcp", h.cfg.HTTPRedirectAddr)
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		h.redirect = &http.Server{Handler: web.RedirectHandler(port), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10,
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
		h.redirectLn = rln
		go func() { _ = h.redirect.Serve(rln) }()
		h.log.Info("HTTP redirect started", "http", rln.Addr().String())
	}
	if pending, err := h.store.SetupPending(h.ctx); err == nil && pending {
		link, err := h.setupLink(h.ctx)
		if err != nil {
			return err
		}
		// The one place a secret is logged, on purpose: the owner needs it
		// from the console, it works once, and no other account exists yet.
		h.log.Info("Setup link: open it to create the owner account", "link", link)
	}
	return nil
}

// setupLink makes a new one-time setup link, replacing any earlier one.
func (h *Hub) setupLink(ctx context.Context) (string, error) {
	if h.web == nil {
		return "", errors.New("the web app is off (no web address)")
	}
	token := web.NewSetupToken()
	if err := h.store.SetSetupToken(ctx, token); err != nil {
		if errors.Is(err, store.ErrSetupDone) {
			return "", errors.New("the hub is set up already; a forgotten password is reset with 'toyhub user reset-password'")
		}
		return "", err
	}
	return h.webBase() + "/setup?token=" + token, nil
}

// webBase is the web app's address as a person on the LAN opens it, or ""
// when the web app is off.
func (h *Hub) webBase() string {
	if h.webLn == nil {
		return ""
	}
	host := "localhost"
	if hs := lan.Hosts(h.lis.Address()); len(hs) > 0 {
		host, _, _ = net.SplitHostPort(hs[0])
	}
	_, port, _ := net.SplitHostPort(h.webLn.Addr().String())
	return "https://" + net.JoinHostPort(host, port)
}

// passwordContext is what no password may contain: the names of the
// household, its toys and its people (every account has a device named
// like it, so the device names cover the people too).
func (h *Hub) passwordContext(ctx context.Context) []string {
	ds, err := h.store.Devices(ctx)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ds)+1)
	for _, d := range ds {
		out = append(out, d.Name)
	}
	if name, err := h.store.Household(ctx); err == nil && name != "" {
		out = append(out, name)
	}
	return out
}

// resetPassword sets a new password from the hub's console.
func (h *Hub) resetPassword(ctx context.Context, a ResetArgs) error {
	u, err := h.store.UserByLogin(ctx, a.Login)
	if err != nil {
		return errors.New("no account has that name")
	}
	if err := password.Check(a.Password, append(h.passwordContext(ctx), u.Login, u.Email)); err != nil {
		return err
	}
	hash, err := password.Hash(a.Password)
	if err != nil {
		return err
	}
	if err := h.store.SetPassword(ctx, u.ID, hash, password.PolicyVersion); err != nil {
		return err
	}
	h.log.Info("Password reset from the console", "user", u.ID)
	h.store.Audit(store.Event{Kind: store.EvPasswordReset, User: u.ID, Remote: "console"})
	return nil
}

// WebAddr is the address the web app is bound to, or "".
func (h *Hub) WebAddr() string {
	if h.webLn == nil {
		return ""
	}
	return h.webLn.Addr().String()
}

// RedirectAddr is the address of the plain-HTTP redirect, or "".
func (h *Hub) RedirectAddr() string {
	if h.redirectLn == nil {
		return ""
	}
	return h.redirectLn.Addr().String()
}

// MQTTAddr is the address the broker is bound to.
func (h *Hub) MQTTAddr() string { return h.lis.Address() }

// EnrollAddr is the address the enrollment endpoint is bound to.
func (h *Hub) EnrollAddr() string { return h.enroll.addr() }

// Close stops serving, disconnects every device, and closes the store.
func (h *Hub) Close() error {
	var err error
	h.closeOnce.Do(func() {
		_ = health.Notify("STOPPING=1")
		if h.metricsSrv != nil {
			h.metricsSrv.Close()
		}
		if h.adv != nil {
			h.adv.Close()
		}
		if h.ctl != nil {
			h.ctl.close()
		}
		if h.web != nil {
			h.web.Close()
		}
		if h.redirect != nil {
			h.redirect.Close()
		}
		h.auditTimerMu.Lock()
		if h.auditTimer != nil && h.auditTimer.Stop() {
			h.wg.Done() // the run it held a place for will not happen
		}
		h.auditTimerMu.Unlock()
		if h.enroll != nil {
			h.enroll.close()
		}
		if h.broker != nil && h.lis != nil {
			h.broker.Close()
		}
		h.cancel()
		h.wg.Wait()
		err = h.release()
		h.log.Info("Hub stopped")
	})
	return err
}

func (h *Hub) release() error {
	h.cancel()
	var err error
	if h.store != nil {
		err = h.store.Close()
	}
	if h.lock != nil {
		h.lock.Close()
	}
	return err
}

// verifyConnection runs at every TLS handshake, after the chain has been
// verified against the household CA: the database must know the
// certificate and neither it nor its device may be revoked. Revocation
// therefore applies from the next handshake on.
func (h *Hub) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	return h.store.CheckCertificate(ctx, certs.SerialString(leaf.SerialNumber), leaf.Subject.CommonName)
}

func (h *Hub) handshakeRefused(remote string, err error) {
	h.refused(remote)
	h.metrics.HandshakeRefused()
	if !h.refusalLog.Allow(time.Now()) {
		return
	}
	attrs := []any{"remote", remote, "error", err.Error()}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		attrs = append(attrs, "reason", "the device's certificate is not valid at the hub's time "+h.cfg.Now().UTC().Format(time.RFC3339),
			"fix", "if the hub's date is right, pair the device again; if not, set the hub's date")
	}
	h.log.Warn("TLS handshake refused", attrs...)
}

// checkClock warns when the hub's clock is earlier than its own records:
// a Raspberry Pi has no battery-backed clock, and this hub asks no time
// server beyond the LAN. Until the date is right, toys' certificates look
// not yet valid and every toy is refused.
func (h *Hub) checkClock() {
	now := h.cfg.Now()
	last, err := h.store.LastRecorded(h.ctx)
	if err != nil {
		h.log.Warn("Clock not checked", "error", err)
	}
	seen := h.ca.Cert.NotBefore
	if last.After(seen) {
		seen = last
	}
	if now.Before(seen.Add(-time.Hour)) {
		h.log.Error("Clock is behind", "now", now.UTC().Format(time.RFC3339), "latest_record", seen.UTC().Format(time.RFC3339),
			"fix", "if today is not the date in now, set it (timedatectl set-time, or the router's time server): until then toys cannot connect; if it is, the clock was ahead when the newer records were made")
		h.store.Audit(store.Event{Kind: store.EvClockBehind, Detail: "clock " + now.UTC().Format(time.RFC3339) + ", latest record " + seen.UTC().Format(time.RFC3339)})
	}
}

// maintain renews the server certificate and drops stale uploads.
func (h *Hub) maintain() {
	defer h.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	startDelay := h.cfg.AuditStartDelay // let a starting hub settle first
	for {
		if err := h.cert.Renew(); err != nil {
			h.log.Error("Server certificate not renewed", "error", err)
		}
		stale := h.cfg.Now().Add(-h.cfg.StaleUploadAge)
		h.router.sweep(stale)
		if n, err := h.store.DiscardStaleUploads(h.ctx, stale); err != nil {
			if h.ctx.Err() == nil {
				h.log.Error("Stale uploads not discarded", "error", err)
			}
		} else if n > 0 {
			h.log.Info("Stale uploads discarded", "count", n)
		}
		if h.cfg.BackupDir != "" {
			if at, ok := h.lastBackup(h.ctx); !ok || h.cfg.Now().Sub(at) >= h.cfg.BackupEvery {
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					if err := h.dailyBackup(h.ctx); err != nil && h.ctx.Err() == nil {
						h.log.Error("Daily backup failed", "dir", h.cfg.BackupDir, "error", err)
						h.store.Audit(store.Event{Kind: store.EvBackupFailed, Detail: err.Error()})
					}
				}()
			}
		}
		if h.cfg.AuditEvery > 0 && h.auditDue(h.ctx) {
			h.scheduleAuditIn(startDelay, "daily")
		}
		startDelay = 0
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// disconnect closes a device's connection at once, if it has one.
func (h *Hub) disconnect(id string) bool {
	cl, ok := h.broker.Clients.Get(id)
	if !ok || cl.Net.Inline || cl.Closed() {
		return false
	}
	_ = h.broker.DisconnectClient(cl, packets.ErrNotAuthorized)
	return true
}

// changesConfig are the control operations after which the security
// self-check runs again.
var changesConfig = map[string]bool{OpDeviceAdd: true, OpDeviceRevoke: true, OpLink: true, OpUnlink: true,
	OpInviteCreate: true, OpInviteRevoke: true, OpResetPassword: true, OpPairOpen: true, OpMute: true, OpUnmute: true}

// control dispatches a control socket request.
func (h *Hub) control(ctx context.Context, op string, raw json.RawMessage) (any, error) {
	res, err := h.dispatch(ctx, op, raw)
	if err == nil && changesConfig[op] {
		h.configChanged()
	}
	return res, err
}

func (h *Hub) dispatch(ctx context.Context, op string, raw json.RawMessage) (any, error) {
	decode := func(v any) error {
		if len(raw) == 0 {
			return errors.New("missing arguments")
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	switch op {
	case OpDeviceAdd:
		var a AddDeviceArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.addDevice(ctx, a)
	case OpDeviceList:
		return h.listDevices(ctx)
	case OpDeviceRevoke:
		var a NameArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.revokeDevice(ctx, a.Name)
	case OpLink, OpUnlink:
		var a LinkArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return nil, h.link(ctx, a, op == OpLink)
	case OpStatus:
		return h.status(ctx)
	case OpPairOpen:
		var a PairArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		code, err := wire.ParsePairingCode(a.Code)
		if err != nil {
			return nil, errors.New("that is not a valid code: check it against the toy's label")
		}
		exp, err := h.enroll.open(ctx, code, a.Name, web.Actor{})
		return PairResult{Expires: exp}, err
	case OpInviteCreate:
		var a InviteArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.createInvite(ctx, a)
	case OpInviteList:
		return h.listInvites(ctx)
	case OpInviteRevoke:
		var a IDArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		if err := h.store.RevokeInvite(ctx, a.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errors.New("no open invite has that ID; see 'toyhub invite list'")
			}
			return nil, err
		}
		h.log.Info("Invite revoked", "invite", a.ID)
		h.store.Audit(store.Event{Kind: store.EvInviteRevoked, Remote: "console", Detail: a.ID})
		return nil, nil
	case OpSetupLink:
		link, err := h.setupLink(ctx)
		return SetupLinkResult{Link: link}, err
	case OpResetPassword:
		var a ResetArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return nil, h.resetPassword(ctx, a)
	case OpAuditList:
		var a CountArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.store.AuditLog(ctx, max(1, min(a.Count, 10000)))
	case OpCheckRun:
		var a AuditArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		rep, err := h.runAudit(ctx, "manual", a)
		if err != nil {
			return nil, err
		}
		return AuditResult{Report: rep, Names: h.auditNames(ctx)}, nil
	case OpDeviceSet:
		var a SettingsArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.setSettings(ctx, a, web.Actor{Remote: "console"})
	case OpDeviceRemove:
		var a RemoveArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		d, err := h.byName(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		return nil, h.removeDevice(ctx, d.ID, a.KeepMessages, web.Actor{Remote: "console"})
	case OpMessagesList:
		var a NameArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return h.listMessages(ctx, a.Name)
	case OpMessagesDelete:
		var a IDsArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		n, err := h.deleteMessages(ctx, a.IDs, web.Actor{Remote: "console"}, "deleted from the console")
		if err == nil && n == 0 {
			err = errors.New("no message has that ID; see 'toyhub messages --toy NAME'")
		}
		return n, err
	case OpMute, OpUnmute:
		var a LinkArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		da, err := h.byName(ctx, a.A)
		if err != nil {
			return nil, err
		}
		db, err := h.byName(ctx, a.B)
		if err != nil {
			return nil, err
		}
		if err := h.store.SetMuted(ctx, da.ID, db.ID, op == OpMute); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errors.New("those devices are not linked")
			}
			return nil, err
		}
		h.store.Audit(store.Event{Kind: map[bool]store.EventKind{true: store.EvLinkMuted, false: store.EvLinkUnmuted}[op == OpMute], Device: da.ID, Remote: "console", Detail: db.ID})
		return nil, nil
	case OpWipe:
		var a WipeArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		u, err := h.checkOwner(ctx, a.Login, a.Password)
		if err != nil {
			h.store.Audit(store.Event{Kind: store.EvWipeRefused, Remote: "console"})
			return nil, err
		}
		h.requestWipe(web.Actor{User: u.ID, Remote: "console"})
		return nil, nil
	case OpPending:
		return h.pendingLinks(ctx)
	case OpRecord:
		var e store.Event
		if err := decode(&e); err != nil {
			return nil, err
		}
		if e.Kind != store.EvExport {
			return nil, fmt.Errorf("event %q is not recorded from the console", e.Kind)
		}
		e.ID, e.At = 0, time.Time{}
		return nil, h.store.AuditSync(ctx, e)
	case OpAuditVerify:
		n, err := h.store.VerifyAudit(ctx)
		var p *store.AuditProblem
		if errors.As(err, &p) {
			h.log.Warn("Audit log does not verify", "entry", p.ID, "reason", p.Reason)
			return VerifyResult{Entries: n, Problem: p.Error()}, nil
		}
		return VerifyResult{Entries: n}, err
	case OpBackupSnapshot:
		return h.snapshot(ctx)
	case OpBackupDone:
		h.log.Info("Backup taken")
		return nil, h.backupDone(ctx)
	case OpShutdown:
		h.log.Info("Stopping on request from the console")
		h.stopOnce.Do(func() { close(h.stopReq) })
		return nil, nil
	case OpCheckLatest:
		rep, ok, err := h.latestAudit(ctx)
		if err != nil || !ok {
			return nil, errors.Join(err, errors.New("no security check has run yet; run 'toyhub audit'"))
		}
		return AuditResult{Report: rep, Names: h.auditNames(ctx)}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

func (h *Hub) addDevice(ctx context.Context, a AddDeviceArgs) (AddDeviceResult, error) {
	kind, err := store.ParseKind(a.Kind)
	if err != nil {
		return AddDeviceResult{}, err
	}
	if err := store.CheckName(a.Name); err != nil {
		return AddDeviceResult{}, fmt.Errorf("device name: %w", err)
	}
	csr, err := certs.ParseCSR([]byte(a.CSR))
	if err != nil {
		return AddDeviceResult{}, err
	}
	id := wire.NewDeviceID()
	iss, err := h.ca.IssueClient(csr.PublicKey, id, h.cfg.DeviceCertValidity, h.cfg.Now())
	if err != nil {
		return AddDeviceResult{}, err
	}
	d, err := h.store.AddDevice(ctx, store.NewDevice{ID: id, Name: a.Name, Kind: kind, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter})
	if errors.Is(err, store.ErrExists) {
		return AddDeviceResult{}, errors.New("a device with that name already exists; choose another name")
	}
	if err != nil {
		return AddDeviceResult{}, err
	}
	h.log.Info("Device added", "device", id, "kind", kind, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	h.store.Audit(store.Event{Kind: store.EvDeviceAdded, Device: id, Remote: "console", Detail: string(kind) + ", certificate " + iss.Serial})
	if kind == store.KindToy {
		h.linkParents(ctx, id)
	}
	h.changes.Publish(id)
	return AddDeviceResult{
		Device:  h.view(d),
		CertPEM: string(iss.PEM), CAPEM: string(h.ca.PEM), CAFingerprint: h.ca.Fingerprint(),
		Hub: lan.Advertised(h.cfg.AdvertiseHosts, h.lis.Address()), Protocol: wire.Version,
	}, nil
}

// renew issues a new certificate to a connected device for the key it is
// connected with; the device's authentication is the connection itself.
func (h *Hub) renew(ctx context.Context, cl *mqtt.Client, dev, csrPEM string) (string, error) {
	csr, err := certs.ParseCSR([]byte(csrPEM))
	if err != nil {
		return "", err
	}
	tc, ok := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState })
	if !ok || len(tc.ConnectionState().PeerCertificates) == 0 {
		return "", errors.New("no client certificate")
	}
	current := tc.ConnectionState().PeerCertificates[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !current.Equal(csr.PublicKey) {
		return "", errors.New("the request must be for the key this device is connected with")
	}
	iss, err := h.ca.IssueClient(csr.PublicKey, dev, h.cfg.DeviceCertValidity, h.cfg.Now())
	if err != nil {
		return "", err
	}
	if err := h.store.AddCertificate(ctx, dev, iss.Serial, iss.Cert.NotAfter); err != nil {
		return "", err
	}
	h.log.Info("Certificate renewed", "device", dev, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	h.store.Audit(store.Event{Kind: store.EvCertRenewed, Device: dev, Detail: iss.Serial})
	return string(iss.PEM), nil
}

func (h *Hub) createInvite(ctx context.Context, a InviteArgs) (InviteResult, error) {
	if a.Role == "" {
		a.Role = "family"
	}
	if a.Role != store.RoleFamily && a.Role != store.RoleParent {
		return InviteResult{}, fmt.Errorf("role %q: want family or parent", a.Role)
	}
	if a.Role == store.RoleParent {
		a.Toys = nil // a parent talks to every toy
	}
	life := h.cfg.InviteExpiry
	if a.Expires != "" {
		d, err := time.ParseDuration(a.Expires)
		if err != nil || d <= 0 || d > h.cfg.MaxInviteExpiry {
			return InviteResult{}, fmt.Errorf("expiry %q: want a duration up to %v, such as 72h", a.Expires, h.cfg.MaxInviteExpiry)
		}
		life = d
	}
	var toys []string
	for _, name := range a.Toys {
		d, err := h.byName(ctx, name)
		if err != nil {
			return InviteResult{}, err
		}
		if d.Kind != store.KindToy {
			return InviteResult{}, fmt.Errorf("%q is not a toy", name)
		}
		toys = append(toys, d.ID)
	}
	inv := wire.Invite{Secret: wire.NewInviteSecret(), Pin: certs.Pin(h.ca.Cert), Hub: lan.EnrollAddresses(h.cfg.AdvertiseHosts, h.enroll.addr(), h.cfg.PublicAddress),
		Expires: h.cfg.Now().Add(life).Truncate(time.Second)}
	id := wire.NewInviteSecret()[:8]
	err := h.store.AddInvite(ctx, store.NewInvite{ID: id, Secret: inv.Secret, Name: a.Name, Role: a.Role, Toys: toys, Expires: inv.Expires})
	if errors.Is(err, store.ErrExists) {
		return InviteResult{}, errors.New("a device or an open invite already has that name; choose another")
	}
	if err != nil {
		return InviteResult{}, err
	}
	h.log.Info("Invite created", "invite", id, "toys", len(toys), "expires", inv.Expires.UTC().Format(time.RFC3339))
	h.store.Audit(store.Event{Kind: store.EvInviteCreated, User: a.by.User, Remote: a.by.Remote, Detail: id})
	res := InviteResult{ID: id, Secret: inv.Secret, Role: a.Role, Link: inv.Link(), File: string(inv.File()), Expires: inv.Expires}
	if base := h.webBase(); base != "" {
		res.WebLink = base + "/join?s=" + inv.Secret
	}
	return res, nil
}

func (h *Hub) listInvites(ctx context.Context) ([]InviteView, error) {
	invs, err := h.store.Invites(ctx)
	if err != nil {
		return nil, err
	}
	now := h.cfg.Now()
	out := make([]InviteView, 0, len(invs))
	for _, i := range invs {
		v := InviteView{ID: i.ID, Name: i.Name, Role: i.Role, Created: i.CreatedAt, Expires: i.Expires, Device: i.DeviceID}
		switch {
		case !i.RedeemedAt.IsZero():
			v.State = "used"
		case !i.RevokedAt.IsZero():
			v.State = "revoked"
		case !now.Before(i.Expires):
			v.State = "expired"
		default:
			v.State = "open"
		}
		for _, t := range i.Toys {
			if d, err := h.store.Device(ctx, t); err == nil {
				v.Toys = append(v.Toys, d.Name)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (h *Hub) view(d store.Device) DeviceView {
	return DeviceView{ID: d.ID, Name: d.Name, Kind: string(d.Kind), Created: d.CreatedAt, LastSeen: d.LastSeen,
		Revoked: d.Revoked(), Online: h.router.online(d.ID)}
}

func (h *Hub) listDevices(ctx context.Context) ([]DeviceView, error) {
	ds, err := h.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceView, 0, len(ds))
	for _, d := range ds {
		out = append(out, h.view(d))
	}
	return out, nil
}

func (h *Hub) byName(ctx context.Context, name string) (store.Device, error) {
	d, err := h.store.DeviceByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, fmt.Errorf("no device is called %q; see 'toyhub device list'", name)
	}
	return d, err
}

func (h *Hub) revokeDevice(ctx context.Context, name string) (DeviceView, error) {
	d, err := h.byName(ctx, name)
	if err != nil {
		return DeviceView{}, err
	}
	if err := h.store.RevokeDevice(ctx, d.ID); err != nil {
		return DeviceView{}, err
	}
	dropped := h.disconnect(d.ID)
	h.log.Info("Device revoked", "device", d.ID, "disconnected", dropped)
	h.store.Audit(store.Event{Kind: store.EvDeviceRevoked, Device: d.ID, Remote: "console"})
	d, err = h.store.Device(ctx, d.ID)
	return h.view(d), err
}

func (h *Hub) link(ctx context.Context, a LinkArgs, on bool) error {
	da, err := h.byName(ctx, a.A)
	if err != nil {
		return err
	}
	db, err := h.byName(ctx, a.B)
	if err != nil {
		return err
	}
	if !on {
		if err := h.store.Unlink(ctx, da.ID, db.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errors.New("those devices are not linked")
			}
			return err
		}
		h.log.Info("Devices unlinked", "a", da.ID, "b", db.ID)
		h.store.Audit(store.Event{Kind: store.EvLinkRemoved, Device: da.ID, Remote: "console", Detail: db.ID})
		return nil
	}
	if err := h.store.Link(ctx, da.ID, db.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errors.New("both devices must be enrolled and not revoked")
		}
		return err
	}
	h.log.Info("Devices linked", "a", da.ID, "b", db.ID)
	h.store.Audit(store.Event{Kind: store.EvLinkAdded, Device: da.ID, Remote: "console", Detail: db.ID})
	return nil
}

func (h *Hub) status(ctx context.Context) (StatusResult, error) {
	ds, err := h.store.Devices(ctx)
	if err != nil {
		return StatusResult{}, err
	}
	online := 0
	for _, d := range ds {
		if h.router.online(d.ID) {
			online++
		}
	}
	return StatusResult{Version: h.cfg.Version, MQTTAddr: h.lis.Address(), Hub: lan.Advertised(h.cfg.AdvertiseHosts, h.lis.Address()),
		CAFingerprint: h.ca.Fingerprint(), Devices: len(ds), Online: online, Schema: store.SchemaVersion()}, nil
}

// storeReserve maps the configured reserve (0: none) to the store's
// option (0: its default, negative: none).
func storeReserve(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// reclaim gives memory back to the system once a burst of connections
// (every toy reconnecting after a power cut or a Wi-Fi outage) has
// settled. Each handshake leaves garbage and a grown stack behind, and
// Go alone would return them only over several two-minute collections: on
// a Pi with 512 MB, for minutes, tens of megabytes.
func (h *Hub) reclaim() {
	defer h.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last, since int64
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		n := h.lis.handshakes.Load()
		if n != last {
			since += n - last
			last = n
			continue // still busy
		}
		if since >= 64 {
			// Stacks shrink by half a collection; three take a handshake's
			// grown stack back to a reading goroutine's.
			for range 3 {
				runtime.GC()
			}
			debug.FreeOSMemory()
			since = 0
		}
	}
}
