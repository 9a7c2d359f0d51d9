package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/broker"
	"github.com/toyhub/toyhub/hub/connlimit"
	"github.com/toyhub/toyhub/hub/household"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
)

// webDoor is the web app as the hub runs it: the HTTPS server on a
// listener limited per address, and the optional plain-HTTP redirect.
type webDoor struct {
	h        *Hub
	srv      *web.Server
	remote   *web.Server // the remote door's app, for connections it hands over
	redirect *http.Server
	refusals *connlimit.LogLimiter // a flood logs a count, not a line each
}

// sessionLife is the longest a web session lasts, however active.
const sessionLife = 12 * time.Hour

func newWebDoor(h *Hub) (*webDoor, error) {
	// A TLS session lasts no longer than a web session at most.
	tlsCfg := certs.LimitTickets(certs.WebTLS(h.cert.Get), sessionLife, h.cfg.Now)
	srv, err := web.New(web.Config{TLS: tlsCfg, CAPEM: h.ca.PEM, CACode: h.ca.Code(), CANames: h.ca.Scope().DNS,
		AbsoluteTimeout: sessionLife, Logger: h.log, Now: h.cfg.Now}, h.store, webHousehold{h})
	if err != nil {
		return nil, err
	}
	// The remote door's app: the same pages, but only for a browser with
	// a household certificate, or redeeming an open invite.
	rem, err := web.New(web.Config{TLS: tlsCfg, CAPEM: h.ca.PEM, CACode: h.ca.Code(), CANames: h.ca.Scope().DNS, Remote: true,
		AbsoluteTimeout: sessionLife, Logger: h.log, Now: h.cfg.Now}, h.store, webHousehold{h})
	if err != nil {
		return nil, err
	}
	d := &webDoor{h: h, srv: srv, remote: rem, refusals: connlimit.NewLogLimiter(h.log, 20, time.Minute)}
	if ln := h.sockets.redirect; ln != nil {
		_, port, _ := net.SplitHostPort(h.WebAddr())
		d.redirect = &http.Server{Handler: web.RedirectHandler(port), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10,
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
	}
	return d, nil
}

// start serves the web app and, while no owner account exists, logs a
// one-time setup link.
func (d *webDoor) start() {
	h := d.h
	// Connections held open (a slowloris) end at the server's header
	// timeout; meanwhile one address may hold only its share.
	limited := connlimit.NewListener(h.sockets.web, connlimit.NewPerSource(h.cfg.MaxPerSource), func(remote string) {
		h.refusals.Refused(remote)
		if d.refusals.Allow(time.Now()) {
			h.log.Warn("Web connection refused", "remote", remote, "reason", "too many connections from this address")
		}
	})
	go func() {
		if err := d.srv.Serve(limited); err != nil {
			h.log.Error("Web app stopped", "error", err)
		}
	}()
	go func() {
		if err := d.remote.ServeHandedOver(h.remoteIn.web); err != nil {
			h.log.Error("Remote web app stopped", "error", err)
		}
	}()
	h.log.Info("Web app started", "web", h.WebAddr())
	if d.redirect != nil {
		go func() { _ = d.redirect.Serve(h.sockets.redirect) }()
		h.log.Info("HTTP redirect started", "http", h.RedirectAddr())
	}
	if pending, err := h.store.SetupPending(h.ctx); err == nil && pending {
		link, err := h.service.SetupLink(h.ctx, household.Console)
		if err != nil {
			h.log.Error("No setup link", "error", err)
			return
		}
		// The one place a secret is logged, on purpose: the owner needs it
		// from the console, it works once, and no other account exists yet.
		h.log.Info("Setup link: open it to create the owner account", "link", link, "ca_code", h.ca.Code(),
			"first_warning", "the browser warns once that it does not know this hub; the page How to trust this hub must show ca_code")
	}
}

func (d *webDoor) close() {
	d.srv.Close()
	d.remote.Close()
	if d.redirect != nil {
		d.redirect.Close()
	}
}

// webHousehold is the household as the web app asks for it (web.Household):
// each method converts the web app's types and calls the service.
type webHousehold struct{ h *Hub }

var _ web.Household = webHousehold{}

func by(a web.Actor) household.Actor { return household.Actor(a) }

func (w webHousehold) Send(ctx context.Context, a web.Actor, toy string, wav []byte) (string, error) {
	id, err := w.h.service.Send(ctx, by(a), toy, wav)
	if errors.Is(err, broker.ErrBadRecording) {
		return "", fmt.Errorf("%w%s", web.ErrBadAudio, strings.TrimPrefix(err.Error(), broker.ErrBadRecording.Error()))
	}
	return id, err
}

func (w webHousehold) Fetched(device, id string) { w.h.service.Fetched(device, id) }

func (w webHousehold) Played(ctx context.Context, device, id string) error {
	return w.h.service.Played(ctx, device, id)
}

func (w webHousehold) Setup(ctx context.Context, a web.Actor, o web.Owner) (store.User, error) {
	return w.h.service.Setup(ctx, by(a), household.Owner(o))
}

func (w webHousehold) Join(ctx context.Context, a web.Actor, secret, password string) (store.User, error) {
	return w.h.service.Join(ctx, by(a), secret, password)
}

func (w webHousehold) ChangePassword(ctx context.Context, a web.Actor, password string) error {
	return w.h.service.ChangePassword(ctx, by(a), password)
}

func (w webHousehold) AddTOTP(ctx context.Context, a web.Actor, secret string, step int64) error {
	return w.h.service.AddTOTP(ctx, by(a), secret, step)
}

func (w webHousehold) RemoveTOTP(ctx context.Context, a web.Actor) error {
	return w.h.service.RemoveTOTP(ctx, by(a))
}

func (w webHousehold) RequireTOTP(ctx context.Context, a web.Actor, on bool) error {
	return w.h.service.RequireTOTP(ctx, by(a), on)
}

func (w webHousehold) TOTPRequired(ctx context.Context) bool { return w.h.service.TOTPRequired(ctx) }

func (w webHousehold) Pair(ctx context.Context, a web.Actor, code, name string) (time.Time, error) {
	return w.h.service.Pair(ctx, by(a), code, name)
}

func (w webHousehold) PairingState(name string) (string, time.Time) {
	return w.h.service.PairingState(name)
}

func (w webHousehold) Rename(ctx context.Context, a web.Actor, device, name string) error {
	return w.h.service.Rename(ctx, by(a), device, name)
}

func (w webHousehold) Revoke(ctx context.Context, a web.Actor, device string) error {
	_, err := w.h.service.Revoke(ctx, by(a), device)
	return err
}

func (w webHousehold) Remove(ctx context.Context, a web.Actor, device string, keepMessages bool) error {
	return w.h.service.Remove(ctx, by(a), device, keepMessages)
}

func (w webHousehold) Link(ctx context.Context, a web.Actor, x, y string) error {
	return w.h.service.Link(ctx, by(a), x, y)
}

func (w webHousehold) Unlink(ctx context.Context, a web.Actor, x, y string) error {
	return w.h.service.Unlink(ctx, by(a), x, y)
}

func (w webHousehold) Mute(ctx context.Context, a web.Actor, x, y string, muted bool) error {
	return w.h.service.Mute(ctx, by(a), x, y, muted)
}

func (w webHousehold) SetToys(ctx context.Context, a web.Actor, person string, toys []string) error {
	return w.h.service.SetToys(ctx, by(a), person, toys)
}

func (w webHousehold) SetSettings(ctx context.Context, a web.Actor, device string, st web.Settings) error {
	_, err := w.h.service.SetSettings(ctx, by(a), device, household.Change(st))
	return err
}

func (w webHousehold) Pending(ctx context.Context) ([]web.PendingRow, error) {
	ps, err := w.h.service.Pending(ctx)
	return convert(ps, func(p household.Pending) web.PendingRow { return web.PendingRow(p) }), err
}

func (w webHousehold) Invite(ctx context.Context, a web.Actor, name string, parent bool, toys []string) (web.Invite, error) {
	inv, err := w.h.service.CreateInvite(ctx, by(a), household.InviteRequest{Name: name, Parent: parent, Toys: toys})
	return web.Invite{ID: inv.ID, Secret: inv.Secret, WebLink: inv.WebLink, RemoteLink: inv.RemoteLink, DeviceLink: inv.Link, Expires: inv.Expires}, err
}

func (w webHousehold) Invites(ctx context.Context) ([]web.InviteRow, error) {
	invs, err := w.h.service.Invites(ctx)
	return convert(invs, func(i household.Invite) web.InviteRow {
		return web.InviteRow{ID: i.ID, Name: i.Name, Parent: i.Role == store.RoleParent, Toys: i.Toys, State: i.State, Expires: i.Expires}
	}), err
}

func (w webHousehold) RevokeInvite(ctx context.Context, a web.Actor, id string) error {
	return w.h.service.RevokeInvite(ctx, by(a), id)
}

func (w webHousehold) DeleteMessages(ctx context.Context, a web.Actor, ids []string) (int, error) {
	return w.h.service.DeleteMessages(ctx, by(a), ids)
}

func (w webHousehold) Export(ctx context.Context, a web.Actor, out io.Writer, passphrase []byte) (int, error) {
	return w.h.service.Export(ctx, by(a), out, passphrase)
}

func (w webHousehold) Wipe(ctx context.Context, a web.Actor, login, password string) error {
	return w.h.service.Wipe(ctx, by(a), login, password)
}

func (w webHousehold) StartCheck(ctx context.Context, a web.Actor, network bool) error {
	return w.h.service.StartCheck(ctx, by(a), network)
}

func (w webHousehold) Online(device string) bool { return w.h.broker.Online(device) }

func (w webHousehold) Watch() (<-chan []string, func()) { return w.h.live.Watch() }

func (w webHousehold) LoginFailed() { w.h.metrics.LoginFailed() }

// Security is the newest self-check and the history, in plain words.
func (w webHousehold) Security(ctx context.Context) (web.SecurityState, error) {
	c := w.h.checks
	st := web.SecurityState{Running: c.Running()}
	runs, err := c.History(ctx, 20)
	if err != nil {
		return st, err
	}
	for _, r := range runs {
		st.History = append(st.History, web.SecurityRun{At: r.At, Trigger: r.Trigger, High: r.High, Medium: r.Medium, Low: r.Low})
	}
	rep, ok, err := c.Latest(ctx)
	if err != nil || !ok {
		return st, err
	}
	rep.Plain(c.Names(ctx))
	v := &web.SecurityReport{At: rep.At, Trigger: rep.Trigger, High: rep.Count(audit.High), Medium: rep.Count(audit.Medium),
		Low: rep.Count(audit.Low)}
	conv := func(f audit.Finding) web.SecurityFinding {
		sf := web.SecurityFinding{Severity: f.Severity.String(), Title: f.Title, Checked: f.Checked, Seen: f.Seen, Fix: f.Fix}
		if f.Host != "" {
			sf.Where = net.JoinHostPort(f.Host, strconv.Itoa(f.Port))
		}
		return sf
	}
	for _, f := range rep.Problems() {
		v.Problems = append(v.Problems, conv(f))
	}
	for _, f := range rep.Findings {
		if f.Severity == audit.Info {
			v.Passed = append(v.Passed, conv(f))
		}
	}
	if n := rep.Network; n != nil {
		v.Network = fmt.Sprintf("%d addresses (%s), %d probes in %s", n.Addresses, strings.Join(n.Targets, ", "), n.Probes, n.Took.Round(time.Second))
		if n.Stopped != "" {
			v.Network += "; " + n.Stopped
		}
	}
	st.Latest = v
	return st, nil
}

func (w webHousehold) RemoteStatus(ctx context.Context, a web.Actor) (web.RemoteView, error) {
	st, err := w.h.service.RemoteStatus(ctx, by(a))
	return remoteView(st), err
}

func (w webHousehold) EnableRemote(ctx context.Context, a web.Actor, host string, port int, mapPort bool) (web.RemoteView, error) {
	st, err := w.h.service.EnableRemote(ctx, by(a), host, port, mapPort)
	return remoteView(st), err
}

func (w webHousehold) DisableRemote(ctx context.Context, a web.Actor) error {
	return w.h.service.DisableRemote(ctx, by(a))
}

func (w webHousehold) RemotePublic() string { return w.h.remotePublic() }

func (w webHousehold) IssueBrowserCert(ctx context.Context, a web.Actor) (web.BrowserCertFile, error) {
	f, err := w.h.service.IssueBrowserCert(ctx, by(a))
	return web.BrowserCertFile(f), err
}

func (w webHousehold) RevokeBrowserCert(ctx context.Context, a web.Actor, serial string) error {
	return w.h.service.RevokeBrowserCert(ctx, by(a), serial)
}

func remoteView(st remote.Status) web.RemoteView {
	v := web.RemoteView{Enabled: st.Enabled, Map: st.Map, Listening: st.Listening, Host: st.Host, Port: st.Port, Public: st.Public,
		Problem: st.Problem, Warning: st.Warning, MapState: st.Mapping.State, MapMethod: st.Mapping.Method, MapMessage: st.Mapping.Message,
		Renews: st.Renews, LastDevice: st.LastDevice, LastBrowser: st.LastBrowser}
	if st.Mapping.External.IsValid() {
		v.External = st.Mapping.External.String()
	}
	return v
}
