package hub

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/web"
)

// sockets are every socket the hub listens on, bound in one place before
// any part is built, so that every part knows every address and this file
// is the one to read for what the hub exposes:
//
//   - mqtt: the broker, mutual TLS (every client needs a household
//     certificate);
//   - enroll: enrollment, TLS 1.3 with server authentication only;
//   - web: the web app, HTTPS (nil when off);
//   - redirect: plain HTTP that only redirects to the web app (nil unless
//     configured);
//   - metrics: /healthz and /metrics, plain HTTP on loopback only (nil
//     when off).
//
// The control socket is a Unix socket in the data directory (see Start),
// and the remote door's port, bound while remote access is on, is in
// remotedoor.go.
type sockets struct {
	mqtt, enroll, web, redirect, metrics net.Listener
}

// bind binds the sockets. The broker's and the enrollment endpoint's must
// bind; a web app, redirect or metrics address that cannot be bound is
// logged and left off, as a hub without them still does its job.
func (h *Hub) bind() (err error) {
	s := &h.sockets
	if s.mqtt, err = net.Listen("tcp", h.cfg.MQTTAddr); err != nil {
		return fmt.Errorf("hub: listen on %s: %w", h.cfg.MQTTAddr, err)
	}
	h.onClose(func() { s.mqtt.Close() })
	if s.enroll, err = net.Listen("tcp", h.cfg.EnrollAddr); err != nil {
		return fmt.Errorf("hub: enrollment endpoint %s: %w", h.cfg.EnrollAddr, err)
	}
	h.onClose(func() { s.enroll.Close() })
	optional := func(what, addr string, ln *net.Listener) {
		if addr == "" {
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			h.log.Error(what+" not started", "addr", addr, "error", err)
			return
		}
		*ln = l
		h.onClose(func() { l.Close() })
	}
	optional("Web app", h.cfg.WebAddr, &s.web)
	if s.web != nil {
		optional("HTTP redirect", h.cfg.HTTPRedirectAddr, &s.redirect)
	}
	optional("Metrics", h.cfg.MetricsAddr, &s.metrics)
	if s.metrics != nil {
		if ip, err := netip.ParseAddrPort(s.metrics.Addr().String()); err != nil || !ip.Addr().IsLoopback() {
			h.log.Error("Metrics not started", "addr", s.metrics.Addr().String(), "error", "not a loopback address")
			s.metrics.Close()
			s.metrics = nil
		}
	}
	return nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// MQTTAddr is the address the broker is bound to.
func (h *Hub) MQTTAddr() string { return addrOf(h.sockets.mqtt) }

// EnrollAddr is the address the enrollment endpoint is bound to.
func (h *Hub) EnrollAddr() string { return addrOf(h.sockets.enroll) }

// WebAddr is the address the web app is bound to, or "".
func (h *Hub) WebAddr() string { return addrOf(h.sockets.web) }

// RedirectAddr is the address of the plain-HTTP redirect, or "".
func (h *Hub) RedirectAddr() string { return addrOf(h.sockets.redirect) }

// MetricsAddr is where /healthz and /metrics are served, or "".
func (h *Hub) MetricsAddr() string { return addrOf(h.sockets.metrics) }

// addresses are where the hub answers, as devices and people reach it
// (household.Addresses).
type addresses struct {
	cfg                 Config
	mqtt, enroll, webLn string        // as bound
	public              func() string // HOST:PORT of remote access, "" when off
}

func (a addresses) Broker() string { return a.mqtt }

// MQTT lists the broker addresses devices are told to use, in order.
// With remote access on, its public HOST:PORT comes last: a device tries
// the LAN first, and from elsewhere reaches the remote port.
func (a addresses) MQTT() []string {
	out := lan.Advertised(a.cfg.AdvertiseHosts, a.mqtt)
	if p := a.public(); p != "" {
		out = append(out, p)
	}
	return out
}

// Enroll lists where an invited device finds the enrollment endpoint,
// the remote port last when remote access is on.
func (a addresses) Enroll() []string {
	return lan.EnrollAddresses(a.cfg.AdvertiseHosts, a.enroll, a.public())
}

// Web is the web app's address as a person on the LAN opens it, or ""
// when the web app is off: the first configured host (or LAN address),
// never a name a request claims.
func (a addresses) Web() string {
	if a.webLn == "" {
		return ""
	}
	host := "localhost"
	if hs := lan.Advertised(a.cfg.AdvertiseHosts, a.mqtt); len(hs) > 0 {
		if h, _, err := net.SplitHostPort(hs[0]); err == nil {
			host = h
		}
	}
	_, port, _ := net.SplitHostPort(a.webLn)
	return "https://" + net.JoinHostPort(host, port)
}

// listeners are the hub's sockets, as the self-check probes them.
func (h *Hub) listeners() []audit.Listener {
	ls := []audit.Listener{{Kind: audit.KindMQTT, Addr: h.MQTTAddr()}, {Kind: audit.KindEnroll, Addr: h.EnrollAddr()}}
	for _, l := range []audit.Listener{{Kind: audit.KindWeb, Addr: h.WebAddr()}, {Kind: audit.KindRedirect, Addr: h.RedirectAddr()},
		{Kind: audit.KindMetrics, Addr: h.MetricsAddr()}, {Kind: audit.KindRemote, Addr: h.RemoteAddr()}} {
		if l.Addr != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// webRoutes is the web app's route table, as the self-check walks it.
func (h *Hub) webRoutes() []audit.Route {
	if h.sockets.web == nil {
		return nil
	}
	var out []audit.Route
	for _, r := range web.Routes() {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			method, path = "GET", r.Pattern
		}
		out = append(out, audit.Route{Method: method, Path: path, Session: r.Access >= web.Member})
	}
	return out
}
