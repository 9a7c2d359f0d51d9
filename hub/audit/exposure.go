package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/toyhub/toyhub/certs"
)

// mqttConnect sends an MQTT 3.1.1 CONNECT and reports whether the broker
// accepted it (CONNACK with return code 0).
func mqttConnect(conn net.Conn, clientID string, timeout time.Duration) (bool, error) {
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var vh bytes.Buffer
	vh.Write([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30})
	binary.Write(&vh, binary.BigEndian, uint16(len(clientID)))
	vh.WriteString(clientID)
	pkt := append([]byte{0x10, byte(vh.Len())}, vh.Bytes()...)
	if _, err := conn.Write(pkt); err != nil {
		return false, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return false, err
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return false, fmt.Errorf("not an MQTT CONNACK: % x", ack)
	}
	return ack[3] == 0, nil
}

// mqttTLS connects over TLS with cfg and tries an MQTT CONNECT; any
// failure, in the handshake or after, means refused.
func mqttTLS(ctx context.Context, p *Probes, addr string, cfg *tls.Config, clientID string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := tlsProbe(ctx, p, addr, cfg, timeout)
	if err != nil {
		return false, "refused during the TLS handshake (" + shortErr(err) + ")"
	}
	defer c.Close()
	ok, err := mqttConnect(c, clientID, timeout)
	switch {
	case err != nil:
		return false, "refused after the handshake (" + shortErr(err) + ")"
	case !ok:
		return false, "refused by MQTT (CONNACK not accepted)"
	}
	return true, "accepted: CONNACK 0"
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		s = s[i+2:]
	}
	return s
}

func (r *run) serverTLS(extra func(*tls.Config)) *tls.Config {
	cfg := &tls.Config{RootCAs: r.facts.ServerCAs(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if extra != nil {
		extra(cfg)
	}
	return cfg
}

func (r *run) listenersOf(kinds ...string) []Listener {
	var out []Listener
	for _, l := range r.facts.Listeners() {
		if slices.Contains(kinds, l.Kind) {
			out = append(out, l)
		}
	}
	return out
}

func checkMQTTAuth(ctx context.Context, r *run) {
	const id = "exposure.mqtt-auth"
	for _, l := range r.listenersOf(KindMQTT, KindRemote) {
		addr := dialAddr(l.Addr)
		checked := "MQTT over TLS on " + addr + ", as an attacker on the LAN would connect"
		if l.Kind == KindRemote {
			checked = "MQTT over TLS on the remote access port " + addr + ", as an attacker on the Internet would connect"
		}
		alpn := protos(l.Kind, "mqtt")
		bad := func(how, seen string) {
			r.add(Finding{Check: id, Severity: High, Title: "The toys' port accepts " + how, Checked: checked, Seen: seen,
				Fix:  "Stop the hub and report this as a bug: every MQTT client must present a valid certificate from the household CA.",
				Host: addr, Port: portOf(addr)})
		}
		var seen []string
		if ok, s := mqttTLS(ctx, r.opt.Probes, addr, r.serverTLS(alpn), "audit-anonymous", r.opt.Timeout); ok {
			bad("clients without a certificate", "no certificate: "+s)
			continue
		} else {
			seen = append(seen, "no certificate: "+s)
		}
		foreign, err := foreignCert(r.opt.Now())
		if err != nil {
			r.add(Finding{Check: id, Severity: Low, Title: "A check could not run", Checked: checked, Seen: err.Error(), Fix: "Run the check again."})
			continue
		}
		if ok, s := mqttTLS(ctx, r.opt.Probes, addr, r.serverTLS(both(present(foreign), alpn)), "audit-foreign", r.opt.Timeout); ok {
			bad("certificates from another CA", "a certificate from another CA: "+s)
			continue
		} else {
			seen = append(seen, "another CA's certificate: "+s)
		}
		p, err := r.facts.NewProbe(ctx)
		if err != nil {
			r.add(Finding{Check: id, Severity: Low, Title: "The check of removed devices could not run", Checked: checked, Seen: err.Error(), Fix: "Run the check again."})
			continue
		}
		withProbe := r.serverTLS(both(present(p.Cert), alpn))
		valid, s := mqttTLS(ctx, r.opt.Probes, addr, withProbe, p.ID, r.opt.Timeout)
		seen = append(seen, "a valid certificate: "+s)
		revokeErr := p.Revoke(ctx)
		revoked, s2 := false, "not tried"
		if revokeErr == nil {
			revoked, s2 = mqttTLS(ctx, r.opt.Probes, addr, withProbe, p.ID, r.opt.Timeout)
		}
		seen = append(seen, "the same certificate, revoked: "+s2)
		if err := p.Remove(context.WithoutCancel(ctx)); err != nil {
			seen = append(seen, "removing the probe failed: "+err.Error())
		}
		switch {
		case revoked:
			bad("revoked certificates", strings.Join(seen, "; "))
		case !valid || revokeErr != nil:
			r.add(Finding{Check: id, Severity: Medium, Title: "The check of removed devices was inconclusive", Checked: checked,
				Seen: strings.Join(seen, "; "), Fix: "A valid certificate should have been accepted first. Check the hub's log, then run the check again.",
				Host: addr, Port: portOf(addr)})
		default:
			r.pass(id, "The toys' port refuses anyone without a valid certificate from this hub", checked, strings.Join(seen, "; "))
		}
	}
}

// protos offers, at the remote port, the protocol a probe speaks: there
// the door tells clients apart by ALPN.
func protos(kind string, proto ...string) func(*tls.Config) {
	return func(c *tls.Config) {
		if kind == KindRemote {
			c.NextProtos = proto
		}
	}
}

// both applies two changes to a configuration.
func both(a, b func(*tls.Config)) func(*tls.Config) {
	return func(c *tls.Config) { a(c); b(c) }
}

// present makes the client send cert whatever CAs the server asks for (Go
// would otherwise keep quiet about a certificate from another CA).
func present(cert tls.Certificate) func(*tls.Config) {
	return func(c *tls.Config) {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
}

// foreignCert is a client certificate from a CA that is not the hub's.
func foreignCert(now time.Time) (tls.Certificate, error) {
	ca, _, err := certs.NewCA(now)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := certs.NewKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	iss, err := ca.IssueClient(key.Public(), "aaaaaaaaaaaaaaaaaaaaaaaaaa", time.Hour, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert}, nil
}

func checkPlaintext(ctx context.Context, r *run) {
	const id = "exposure.plaintext"
	// No plaintext MQTT anywhere on this machine.
	targets := r.opt.PlaintextMQTT
	if targets == nil {
		hosts := []string{"127.0.0.1"}
		for _, l := range r.facts.Listeners() {
			if h, _, err := net.SplitHostPort(l.Addr); err == nil {
				if ip, err := netip.ParseAddr(h); err == nil && !ip.IsUnspecified() && !slices.Contains(hosts, h) {
					hosts = append(hosts, h)
				}
			}
		}
		for _, h := range hosts {
			targets = append(targets, net.JoinHostPort(h, "1883"))
		}
	}
	for _, t := range targets {
		c, err := (&net.Dialer{Timeout: r.opt.Timeout}).DialContext(ctx, "tcp", t)
		if err != nil {
			r.pass(id, "Nothing answers without encryption on "+t, "a TCP connection to "+t+" (plaintext MQTT)", "nothing listens")
			continue
		}
		ok, err := mqttConnect(c, "toyhub-audit", r.opt.Timeout)
		c.Close()
		f := Finding{Check: id, Host: hostOf(t), Port: portOf(t), Checked: "plaintext MQTT on " + t,
			Fix: "Stop or firewall the plaintext MQTT broker on this machine (often mosquitto on port 1883). toyhub needs none; anything sent through it can be read and changed on the way."}
		switch {
		case err == nil && ok:
			f.Severity, f.Title, f.Seen = High, "A plaintext MQTT broker on this machine accepts anyone", "an anonymous CONNECT was accepted"
		case err == nil:
			f.Severity, f.Title, f.Seen = Medium, "A plaintext MQTT broker runs on this machine", "it refused an anonymous CONNECT, but passwords sent to it travel in clear"
		default:
			f.Severity, f.Title, f.Seen = Low, "Something listens on the plaintext MQTT port", "a TCP connection was accepted ("+shortErr(err)+")"
		}
		r.add(f)
	}
	// The hub's own listeners answer plaintext HTTP with nothing, except
	// the redirect listener, which answers with a redirect and nothing else.
	for _, l := range r.facts.Listeners() {
		addr := dialAddr(l.Addr)
		if l.Kind == KindMetrics {
			ap, err := netip.ParseAddrPort(l.Addr)
			if err != nil || !ap.Addr().IsLoopback() {
				r.add(Finding{Check: id, Severity: High, Title: "The hub's health figures can be read from the network", Checked: "the address of /healthz and /metrics",
					Seen: "bound to " + l.Addr, Fix: "Set metrics_addr to a loopback address such as 127.0.0.1:9464, or to \"\" to turn metrics off.",
					Host: hostOf(l.Addr), Port: portOf(l.Addr)})
				continue
			}
			r.pass(id, "The hub's health figures can be read on the hub only", "the address of /healthz and /metrics", l.Addr)
			continue
		}
		resp, body, err := plainHTTP(ctx, r.opt.Probes, addr, "/", r.opt.Timeout)
		checked := "a plaintext HTTP request to the hub's " + l.Kind + " port " + addr
		redirectOK := err == nil && (resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusPermanentRedirect) &&
			strings.HasPrefix(resp.Header.Get("Location"), "https://") && len(resp.Cookies()) == 0 && !bytes.Contains(bytes.ToLower(body), []byte("<form"))
		switch {
		case l.Kind == KindRedirect && redirectOK:
			r.pass(id, "The unencrypted web address only sends browsers to the encrypted one", checked, "301 to "+resp.Header.Get("Location"))
		case l.Kind == KindRedirect:
			r.add(Finding{Check: id, Severity: High, Title: "The unencrypted web address does more than send browsers to the encrypted one", Checked: checked, Seen: describe(resp, err),
				Fix: "Turn the plain HTTP port off (remove --http-redirect-addr) and report this as a bug.", Host: hostOf(addr), Port: portOf(addr)})
		case err != nil || resp.StatusCode == http.StatusBadRequest:
			// A TLS server: no HTTP answer, or Go's "HTTP request to an HTTPS server" refusal.
			r.pass(id, sentenceCase(kindWords(l.Kind))+" speaks only encrypted", checked, describe(resp, err))
		default:
			r.add(Finding{Check: id, Severity: High, Title: "A hub port answers without encryption", Checked: checked, Seen: describe(resp, err),
				Fix: "Stop the hub and report this as a bug: no toyhub port may serve anything in plaintext.", Host: hostOf(addr), Port: portOf(addr)})
		}
	}
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// legacy are the TLS 1.2 suites without AEAD that Go can still offer.
var legacy = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA,
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// handshake reports whether a TLS handshake with cfg completes.
func handshake(ctx context.Context, p *Probes, addr string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := tlsProbe(ctx, p, addr, cfg, timeout)
	if err != nil {
		return err
	}
	return c.Close()
}

// tlsProbe connects to addr as one of the probes and completes a TLS
// handshake with cfg.
func tlsProbe(ctx context.Context, p *Probes, addr string, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	raw, err := p.dial(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func checkTLSVersions(ctx context.Context, r *run) {
	const id = "exposure.tls"
	for _, l := range r.listenersOf(KindMQTT, KindEnroll, KindWeb, KindRemote) {
		addr := dialAddr(l.Addr)
		checked := "TLS on the hub's " + l.Kind + " port " + addr + ": versions below 1.2, and suites without AEAD"
		// At the remote port, as an invited device: the one protocol there
		// whose handshake needs no certificate, so that only the version
		// or the suite can refuse it.
		alpn := protos(l.Kind, certs.EnrollProto)
		var accepted []string
		for _, v := range []struct {
			name string
			cfg  func(*tls.Config)
		}{
			{"TLS 1.0", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }},
			{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }},
			{"TLS 1.2 without AEAD (CBC, RC4, 3DES)", func(c *tls.Config) { c.MaxVersion, c.CipherSuites = tls.VersionTLS12, legacy }},
		} {
			cfg := r.serverTLS(both(v.cfg, alpn))
			cfg.InsecureSkipVerify = true // only the protocol is being tested here
			if handshake(ctx, r.opt.Probes, addr, cfg, r.opt.Timeout) == nil {
				accepted = append(accepted, v.name)
			}
		}
		if len(accepted) > 0 {
			r.add(Finding{Check: id, Severity: High, Title: "A hub port accepts outdated encryption", Checked: checked,
				Seen: "accepted: " + strings.Join(accepted, ", "),
				Fix:  "Report this as a bug: toyhub must accept only TLS 1.2 with AEAD suites, and TLS 1.3.", Host: hostOf(addr), Port: portOf(addr)})
			continue
		}
		r.pass(id, sentenceCase(kindWords(l.Kind))+" refuses outdated encryption", checked, "TLS 1.0, TLS 1.1 and non-AEAD suites refused")
	}
}

// debugPaths are where debugging endpoints usually hide.
var debugPaths = []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/vars", "/debug/requests", "/metrics", "/.env", "/server-status"}
