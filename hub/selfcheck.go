package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

// auditFacts is the hub as its security self-check sees it (audit.Facts).
type auditFacts struct{ h *Hub }

var _ audit.Facts = auditFacts{}

func (f auditFacts) Listeners() []audit.Listener {
	h := f.h
	ls := []audit.Listener{{Kind: audit.KindMQTT, Addr: h.lis.Address()}, {Kind: audit.KindEnroll, Addr: h.enroll.addr()}}
	if a := h.WebAddr(); a != "" {
		ls = append(ls, audit.Listener{Kind: audit.KindWeb, Addr: a})
	}
	if a := h.RedirectAddr(); a != "" {
		ls = append(ls, audit.Listener{Kind: audit.KindRedirect, Addr: a})
	}
	if a := h.MetricsAddr(); a != "" {
		ls = append(ls, audit.Listener{Kind: audit.KindMetrics, Addr: a})
	}
	return ls
}

func (f auditFacts) ServerCAs() *x509.CertPool { return f.h.ca.Pool() }

// NewProbe enrolls a throw-away toy straight in the store (no links, no
// pairing, nothing announced), with a certificate good for ten minutes.
func (f auditFacts) NewProbe(ctx context.Context) (audit.Probe, error) {
	h := f.h
	key, err := certs.NewKey()
	if err != nil {
		return audit.Probe{}, err
	}
	id := wire.NewDeviceID()
	iss, err := h.ca.IssueClient(key.Public(), id, 10*time.Minute, h.cfg.Now())
	if err != nil {
		return audit.Probe{}, err
	}
	if _, err := h.store.AddDevice(ctx, store.NewDevice{ID: id, Name: "security check " + id[:8], Kind: store.KindToy,
		CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter}); err != nil {
		return audit.Probe{}, err
	}
	return audit.Probe{
		Cert: tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert},
		ID:   id,
		Revoke: func(ctx context.Context) error {
			if err := h.store.RevokeDevice(ctx, id); err != nil {
				return err
			}
			h.disconnect(id)
			return nil
		},
		Remove: func(ctx context.Context) error {
			h.disconnect(id)
			return h.store.DeleteDevice(ctx, id)
		},
	}, nil
}

func (f auditFacts) WebRoutes() []audit.Route {
	if f.h.web == nil {
		return nil
	}
	var out []audit.Route
	for _, r := range f.h.web.Routes() {
		method, path, _ := cutPattern(r.Pattern)
		out = append(out, audit.Route{Method: method, Path: path, Session: r.Access >= web.Member})
	}
	return out
}

func cutPattern(p string) (method, path string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == ' ' {
			return p[:i], p[i+1:], true
		}
	}
	return "GET", p, false
}

func (f auditFacts) Files() audit.Files {
	c := f.h.cfg
	d := c.Dir()
	return audit.Files{
		DataDir: c.DataDir, KeysDir: d.Keys(), Database: f.h.store.Files(),
		Keys: []string{d.MasterKey(), d.CAKey(), d.ServerKey()}, CAKey: d.CAKey(), MasterKey: d.MasterKey(),
		Backups: c.BackupDirs, Reserve: c.MinFreeBytes,
	}
}

func (f auditFacts) Secrets() ([][]byte, error) {
	return store.MasterKeyForms(f.h.cfg.Dir().MasterKey())
}

func (f auditFacts) Names(ctx context.Context) ([]string, error) { return f.h.store.Names(ctx) }

func (f auditFacts) Identity(ctx context.Context) (audit.Identity, error) {
	h := f.h
	var id audit.Identity
	certs, err := h.store.CurrentCertificates(ctx)
	if err != nil {
		return id, err
	}
	ds, err := h.store.Devices(ctx)
	if err != nil {
		return id, err
	}
	accountDevice := map[string]bool{}
	for _, d := range ds {
		if d.Revoked() {
			continue
		}
		if d.Account != "" {
			accountDevice[d.ID] = true
			continue
		}
		id.Devices = append(id.Devices, audit.Device{ID: d.ID, Created: d.CreatedAt, LastSeen: d.LastSeen})
	}
	for _, c := range certs {
		if !accountDevice[c.Device] {
			id.Certificates = append(id.Certificates, audit.Certificate{Device: c.Device, NotAfter: c.NotAfter})
		}
	}
	invs, err := h.store.Invites(ctx)
	if err != nil {
		return id, err
	}
	now := h.cfg.Now()
	for _, i := range invs {
		if i.Open(now) {
			id.OpenInvites = append(id.OpenInvites, audit.Invite{ID: i.ID, Expires: i.Expires})
		}
	}
	users, err := h.store.Users(ctx)
	if err != nil {
		return id, err
	}
	for _, u := range users {
		id.Accounts = append(id.Accounts, audit.Account{ID: u.ID, Role: u.Role, HasTOTP: u.TOTPSecret != "", PolicyVersion: u.PolicyVersion})
	}
	id.PasswordPolicy = password.PolicyVersion
	day := now.Add(-24 * time.Hour)
	if id.FailedLogins, err = h.store.CountEvents(ctx, day, store.EvLoginFailed, store.EvLoginRefused, store.EvJoinRefused, store.EvPairRefused); err != nil {
		return id, err
	}
	id.RefusedConnections = h.refusals.since(day)
	return id, nil
}

// refused counts a refused handshake or connection, unless it is the
// self-check's own probing (from this machine, while a check runs).
func (h *Hub) refused(remote string) {
	if h.auditing.Load() {
		if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().Unmap().IsLoopback() {
			return
		}
	}
	h.refusals.add(h.cfg.Now())
}

// refusals counts refused TLS handshakes and MQTT connections per hour,
// for a day, in memory: counting must not cost a database write per
// junk connection.
type refusals struct {
	mu    sync.Mutex
	hours [24]struct {
		hour int64
		n    int
	}
}

func (r *refusals) add(t time.Time) {
	h := t.Unix() / 3600
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.hours[h%24]
	if b.hour != h {
		b.hour, b.n = h, 0
	}
	b.n++
}

func (r *refusals) since(t time.Time) int {
	from := t.Unix() / 3600
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.hours {
		if b.hour >= from {
			n += b.n
		}
	}
	return n
}

// AuditArgs asks for a security check.
type AuditArgs struct {
	Network bool     `json:"network"`
	Targets []string `json:"targets"`
}

// AuditResult is a check's report, with the names of the devices and
// accounts it mentions (for display only: names are never stored with it).
type AuditResult struct {
	Report audit.Report      `json:"report"`
	Names  map[string]string `json:"names"`
}

// runAudit runs the self-check now, keeps it in the history, and returns
// it. Only one runs at a time.
func (h *Hub) runAudit(ctx context.Context, trigger string, a AuditArgs) (audit.Report, error) {
	h.auditMu.Lock()
	defer h.auditMu.Unlock()
	h.auditing.Store(true)
	defer h.auditing.Store(false)
	opt := audit.Options{Trigger: trigger, Now: h.cfg.Now, Network: a.Network || h.cfg.AuditNetwork,
		Scan: audit.ScanOptions{Targets: a.Targets, HubPorts: h.hubPorts(), Self: selfAddrs()}}
	if len(opt.Scan.Targets) == 0 {
		opt.Scan.Targets = h.cfg.AuditTargets
	}
	rep, err := audit.Run(ctx, auditFacts{h}, opt)
	if err != nil {
		return rep, err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return rep, err
	}
	if err := h.store.SaveCheck(ctx, store.CheckRun{At: rep.At, Trigger: trigger, High: rep.Count(audit.High),
		Medium: rep.Count(audit.Medium), Low: rep.Count(audit.Low), Report: b}); err != nil {
		return rep, err
	}
	h.log.Info("Security check done", "trigger", trigger, "high", rep.Count(audit.High), "medium", rep.Count(audit.Medium),
		"low", rep.Count(audit.Low), "network", opt.Network, "took", rep.Took.Round(time.Millisecond).String())
	h.store.Audit(store.Event{Kind: store.EvCheckDone, Detail: fmt.Sprintf("%s: %d high, %d medium, %d low", trigger, rep.Count(audit.High), rep.Count(audit.Medium), rep.Count(audit.Low))})
	h.changes.Publish()
	return rep, nil
}

func (h *Hub) hubPorts() []int {
	var out []int
	for _, l := range (auditFacts{h}).Listeners() {
		if _, p, err := net.SplitHostPort(l.Addr); err == nil {
			var n int
			fmt.Sscan(p, &n)
			out = append(out, n)
		}
	}
	return out
}

func selfAddrs() []netip.Addr { return append(lan.Addrs(), netip.MustParseAddr("127.0.0.1")) }

// auditNames resolves the device and account IDs in the audit's findings
// to names, for showing a report to its owner.
func (h *Hub) auditNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	if ds, err := h.store.Devices(ctx); err == nil {
		for _, d := range ds {
			names[d.ID] = d.Name
		}
	}
	if us, err := h.store.Users(ctx); err == nil {
		for _, u := range us {
			names[u.ID] = u.Login
		}
	}
	return names
}

// latestAudit returns the newest report in the history.
func (h *Hub) latestAudit(ctx context.Context) (audit.Report, bool, error) {
	runs, err := h.store.Checks(ctx, 1, true)
	if err != nil || len(runs) == 0 {
		return audit.Report{}, false, err
	}
	var rep audit.Report
	if err := json.Unmarshal(runs[0].Report, &rep); err != nil {
		return rep, false, fmt.Errorf("audit history: %w", err)
	}
	return rep, true, nil
}

// configChanged runs the self-check a little after a configuration
// change (several changes in a row give one run).
func (h *Hub) configChanged() {
	if h.cfg.AuditAfterChange > 0 {
		h.scheduleAuditIn(h.cfg.AuditAfterChange, "change")
	}
}

// scheduleAuditIn runs the self-check after d, unless one is scheduled.
func (h *Hub) scheduleAuditIn(d time.Duration, trigger string) {
	h.auditTimerMu.Lock()
	defer h.auditTimerMu.Unlock()
	if h.auditTimer != nil || h.ctx.Err() != nil {
		return
	}
	h.wg.Add(1)
	h.auditTimer = time.AfterFunc(d, func() {
		defer h.wg.Done()
		h.auditTimerMu.Lock()
		h.auditTimer = nil
		h.auditTimerMu.Unlock()
		if h.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Minute)
		defer cancel()
		if _, err := h.runAudit(ctx, trigger, AuditArgs{}); err != nil && h.ctx.Err() == nil {
			h.log.Error("Security check failed", "trigger", trigger, "error", err)
		}
	})
}

// auditDue reports whether the daily check is due.
func (h *Hub) auditDue(ctx context.Context) bool {
	runs, err := h.store.Checks(ctx, 1, false)
	if err != nil {
		return false
	}
	return len(runs) == 0 || h.cfg.Now().Sub(runs[0].At) >= h.cfg.AuditEvery
}
