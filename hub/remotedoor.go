package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/connlimit"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/hub/servercert"
	"github.com/toyhub/toyhub/store"
)

// The remote door: one port that answers from beyond the LAN. The door
// (hub/remote) tells devices, invited devices and browsers apart by ALPN
// in the handshake and hands each, handshake done, to the part that
// serves it here: the broker (its own listener, "mqtts-remote"), the
// enrollment endpoint (joining only), and the web app's remote server
// (browsers with a household certificate, or redeeming an open invite).
type remoteParts struct {
	mqtt, web *remote.Handoff
	refusals  *connlimit.LogLimiter
}

// buildRemote makes the manager of remote access and the handoffs its
// door feeds; the door itself is made each time remote access turns on.
func (h *Hub) buildRemote() {
	passed() // a socket systemd passed in is served (and closes what comes while remote access is off)
	addr := &net.TCPAddr{IP: net.IPv4zero, Port: h.cfg.Remote.Port}
	h.remoteIn = remoteParts{mqtt: remote.NewHandoff(addr), web: remote.NewHandoff(addr),
		refusals: connlimit.NewLogLimiter(h.log, 20, time.Minute)}
	h.remote = remote.NewManager(h.cfg.Remote, remote.Deps{Store: h.store, Door: h.newRemoteDoor, Listen: h.listenRemote,
		Mapper: remote.Mapper{}, Changed: h.remoteChanged, Log: h.log, Now: h.cfg.Now})
}

// listenRemote binds the remote port (RemoteListen's host, every
// interface by default), or, under systemd, takes the socket
// toyhub-remote.socket passed in (see sdsocket.go).
func (h *Hub) listenRemote(port int) (net.Listener, error) {
	if p := passed(); p != nil {
		if p.port() != port {
			return nil, fmt.Errorf("toyhub-remote.socket listens on port %d: choose that port, or change ListenStream= in the socket", p.port())
		}
		return p.open(), nil
	}
	if underSystemd() {
		return nil, errors.New("under systemd, the hub answers from outside the home only through toyhub-remote.socket: " +
			"run 'sudo systemctl enable --now toyhub-remote.socket', then 'sudo systemctl restart toyhub'")
	}
	return net.Listen("tcp", net.JoinHostPort(h.cfg.RemoteListen, strconv.Itoa(port)))
}

// newRemoteDoor makes the door with the hub's TLS policies: a device's
// mutual TLS as on the LAN, enrollment's TLS 1.3, and for browsers a
// household browser certificate checked against the store, or none at
// all while an invite is open.
func (h *Hub) newRemoteDoor() *remote.Door {
	webTLS := certs.LimitTickets(certs.WebTLS(h.remCert.Get), sessionLife, h.cfg.Now)
	webTLS.ClientAuth = tls.VerifyClientCertIfGiven
	webTLS.ClientCAs = h.ca.Pool()
	webTLS.Time = h.cfg.Now
	mqttTLS := h.broker.TLSConfig().Clone()
	mqttTLS.Certificates, mqttTLS.GetCertificate = nil, h.remCert.Get
	cfgs := remote.Configs{MQTT: mqttTLS, Enroll: certs.EnrollServerTLS(h.remCert.Get, h.ca.Cert), Web: webTLS,
		WebCheck: h.verifyBrowser}
	handlers := remote.Handlers{
		MQTT:   func(c *tls.Conn) { h.remoteIn.mqtt.Give(c) },
		Enroll: h.enroll.ServeRemote,
		Web: func(c *tls.Conn) {
			if h.web == nil {
				c.Close() // no web app to serve
				return
			}
			h.remoteIn.web.Give(c)
		},
	}
	return remote.NewDoor(cfgs, handlers, remote.Options{Refused: h.remoteRefused, Accepted: func(from, kind string) {
		if !h.probes.Own(from) {
			h.remote.Accepted(kind)
		}
	},
		Log: h.log})
}

// verifyBrowser is the remote door's check of a browser, at every
// handshake (resumed ones included): a household browser certificate,
// valid in the store; or none at all, while an invite is open or a
// certificate's file waits to be fetched by the address that redeemed it.
func (h *Hub) verifyBrowser(from netip.Addr, cs tls.ConnectionState) error {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if len(cs.PeerCertificates) == 0 {
		// Without one, only redeeming an open invite, and then fetching
		// the certificate it gave (for half an hour, the invite spent).
		if h.web != nil && h.web.remote.Pending(from) {
			return nil
		}
		open, err := h.store.HasOpenInvite(ctx)
		if err != nil || !open {
			return &remote.CertError{Why: "a browser without a certificate, and no invite open"}
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	account, ok := certs.IsBrowser(leaf)
	if !ok {
		return &remote.CertError{Why: "a certificate that is not a browser's"}
	}
	if err := h.store.CheckBrowserCert(ctx, certs.SerialString(leaf.SerialNumber), account); err != nil {
		var ce *store.CertificateError
		if errors.As(err, &ce) {
			return &remote.CertError{Why: "a browser certificate: " + ce.Reason}
		}
		return &remote.CertError{Why: "a browser certificate that could not be checked"}
	}
	return nil
}

// remoteRefused records a refusal at the remote door: in the audit log
// with the address only, and the log, both bounded for a flood.
func (h *Hub) remoteRefused(remoteAddr, why string) {
	if h.probes.Own(remoteAddr) {
		return // the self-check's probe, refused as it should be
	}
	h.refusals.Refused(remoteAddr)
	if !h.remoteIn.refusals.Allow(time.Now()) {
		return
	}
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	h.log.Warn("Remote connection refused", "remote", ip, "reason", why)
	h.store.Audit(store.Event{Kind: store.EvRemoteRefused, Remote: ip, Detail: why})
}

// remotePublic is where grandparents reach the hub, "" when remote access
// is off.
func (h *Hub) remotePublic() string {
	if h.remote == nil {
		return ""
	}
	return h.remote.Status().Public
}

// RemoteAddr is the address the remote port is bound to, "" when remote
// access is off (for tests and the self-check).
func (h *Hub) RemoteAddr() string {
	if h.remote == nil {
		return ""
	}
	st := h.remote.Status()
	if !st.Listening {
		return ""
	}
	return net.JoinHostPort(h.cfg.RemoteListen, fmt.Sprint(st.Port))
}

// remoteChanged tells the pages, and covers the remote name in the server
// certificate at once.
func (h *Hub) remoteChanged() {
	h.live.Publish()
	h.renewCerts()
}

// renewCerts renews the LAN's server certificate and the remote door's,
// as needed.
func (h *Hub) renewCerts() {
	for _, c := range []*servercert.Cert{h.cert, h.remCert} {
		if err := c.Renew(); err != nil {
			h.log.Error("Server certificate not renewed", "error", err)
		}
	}
}
