// Package enroll brings devices into the household: the enrollment
// endpoint (TLS 1.3, server authentication only) where a toy pairs with
// the code on its label inside a window a parent opened, and where an
// invited device joins with an invite's secret; and the issuer of every
// device certificate, renewals over MQTT included.
//
// Pairing proves knowledge of the code on both sides with HMACs over the
// TLS exporter value (wire.ToyProof, wire.HubProof): a man in the middle
// sees different exporter values on each leg, so it can neither relay nor
// guess. Every refusal is rate-limited and audited. Once a device is in,
// the household hears of it (Household), to link a toy to the parents and
// tell the pages.
package enroll

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/connlimit"
	"github.com/toyhub/toyhub/internal/attempts"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Config is enrollment's slice of the hub's configuration.
type Config struct {
	// Failed attempts allowed per source address (an IPv6 /64), for
	// pairing and for joining each, before that address must wait
	// FailureWindow after its last failure. There is no bound for all
	// addresses together: strangers could spend it and lock out the
	// family's own toy, and the secrets (a 130-bit code, an invite) need
	// none.
	FailuresPerSource int
	FailureWindow     time.Duration
	// PerSource bounds the connections one address may hold open (16 when
	// 0); Slots the connections served at once (64 when 0).
	PerSource, Slots int
	// MQTT lists, when asked, the broker addresses a new device is to use
	// (lan.Advertised).
	MQTT func() []string
	Now  func() time.Time
}

// Household is what enrollment tells the household once a device is in:
// a toy that paired, or a device that joined linked to these devices.
type Household interface {
	Enrolled(ctx context.Context, device string, kind store.Kind, linked []string)
}

// Deps are what the endpoint needs from the rest of the hub.
type Deps struct {
	Store     *store.Store
	Issuer    *Issuer
	Windows   *Windows
	Household Household
	// Cert serves the hub's server certificate.
	Cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Log  *slog.Logger
}

// Server serves the enrollment endpoint: one TLS 1.3 listener with server
// authentication only, where a toy pairs with the code on its label and an
// invited device joins. Nothing else is served there, and every refusal
// is rate-limited and audited.
type Server struct {
	cfg   Config
	d     Deps
	log   *slog.Logger
	ln    net.Listener
	slots chan struct{}
	// One limiter per purpose: wrong pairing proofs do not slow an
	// invited device, nor wrong invites a toy.
	pairs, joins *attempts.Limiter
	// refusals bounds the lines a flood of refusals writes to the log and
	// the audit log: a burst, then a count.
	refusals *connlimit.LogLimiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewServer serves the endpoint on a bound socket, with TLS 1.3 and
// server authentication only; Start serves it.
func NewServer(cfg Config, ln net.Listener, d Deps) *Server {
	if cfg.PerSource <= 0 {
		cfg.PerSource = 16
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 64
	}
	p := attempts.Policy{Free: cfg.FailuresPerSource, Limit: cfg.FailuresPerSource, Forget: cfg.FailureWindow, Capacity: 4096}
	refusals := connlimit.NewLogLimiter(d.Log, 20, time.Minute)
	ln = connlimit.NewListener(ln, connlimit.NewPerSource(cfg.PerSource), func(remote string) {
		if refusals.Allow(time.Now()) {
			d.Log.Warn("Enrollment connection refused", "remote", remote, "reason", "too many from this address")
		}
	})
	s := &Server{cfg: cfg, d: d, log: d.Log, ln: tls.NewListener(ln, certs.EnrollServerTLS(d.Cert, d.Issuer.CA().Cert)),
		slots: make(chan struct{}, cfg.Slots), pairs: attempts.New(p), joins: attempts.New(p), refusals: refusals}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start serves until Close.
func (s *Server) Start() {
	s.wg.Add(1)
	go s.serve()
}

// Addr is where the endpoint listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving and waits for the requests under way.
func (s *Server) Close() {
	s.ln.Close()
	s.cancel()
	s.wg.Wait()
}

func (e *Server) serve() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case e.slots <- struct{}{}:
		default:
			c.Close() // a flood: the legitimate toy retries
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() { <-e.slots }()
			e.serveConn(c.(*tls.Conn))
		}()
	}
}

// ServeRemote serves an invited device that the remote door handed over,
// its TLS 1.3 handshake done: it may join with an invite, never pair (a
// toy pairs at home, with the parent who opened its window).
func (e *Server) ServeRemote(c *tls.Conn) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.exchange(c, true)
	}()
}

func (e *Server) serveConn(c *tls.Conn) { e.exchange(c, false) }

// exchange reads one enrollment request and answers it; from outside the
// home, only a join.
func (e *Server) exchange(c *tls.Conn, outside bool) {
	defer c.Close()
	remote := c.RemoteAddr().String()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := c.Handshake(); err != nil {
		e.log.Debug("Enrollment handshake failed", "remote", remote, "error", err)
		return
	}
	var req wire.EnrollRequest
	line, err := bufio.NewReaderSize(c, 64*1024).ReadSlice('\n')
	if err == nil {
		err = wire.Decode(line, &req)
	}
	var resp wire.EnrollResponse
	switch {
	case err != nil:
		resp.Error = &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	case req.V != wire.Version:
		resp.Error = &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("protocol version %d is not supported", req.V)}
	case outside && req.Kind != wire.EnrollJoin:
		e.refused(req.Kind, remote, "pairing from outside the home")
		resp.Error = &wire.Error{Code: wire.CodeBadRequest, Message: "a toy pairs on the home network, with the parent who started pairing it"}
	default:
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		resp = e.handle(ctx, c, remote, req)
		cancel()
	}
	b, _ := json.Marshal(resp)
	c.Write(append(b, '\n'))
}

func refusal(code, msg string) wire.EnrollResponse {
	return wire.EnrollResponse{Error: &wire.Error{Code: code, Message: msg}}
}

func (e *Server) handle(ctx context.Context, c *tls.Conn, remote string, req wire.EnrollRequest) wire.EnrollResponse {
	kind := req.Kind
	if kind != wire.EnrollPair && kind != wire.EnrollJoin {
		return refusal(wire.CodeBadRequest, "unknown enrollment request")
	}
	limit := e.pairs
	if kind == wire.EnrollJoin {
		limit = e.joins
	}
	// The attempt is taken before the secret is checked, so that attempts
	// sent at once are counted as they come; a success gives it back.
	source := attempts.Source(connlimit.SourceOf(c.RemoteAddr()))
	if _, ok := limit.Reserve(source, e.cfg.Now(), false); !ok {
		if e.refusals.Allow(time.Now()) {
			e.refused(kind, remote, "rate limited")
		}
		return refusal(wire.CodeRateLimited, "too many failed attempts; wait a few minutes and try again")
	}
	resp := e.enroll(ctx, c, remote, req)
	switch {
	case resp.Error == nil:
		limit.Succeeded(source)
	case resp.Error.Code != wire.CodeBadProof && resp.Error.Code != wire.CodeBadInvite:
		limit.Refund(source) // not a guess at a secret
	}
	return resp
}

func (e *Server) enroll(ctx context.Context, c *tls.Conn, remote string, req wire.EnrollRequest) wire.EnrollResponse {
	csr, err := certs.ParseCSR([]byte(req.CSR))
	if err != nil {
		return refusal(wire.CodeBadRequest, err.Error())
	}
	if req.Kind == wire.EnrollJoin {
		return e.join(ctx, remote, req.Secret, csr.PublicKey)
	}
	st := c.ConnectionState()
	exporter, err := st.ExportKeyingMaterial(wire.ExporterLabel, nil, wire.ExporterLen)
	if err == nil {
		err = wire.CheckExporter(exporter)
	}
	if err != nil || st.Version != tls.VersionTLS13 {
		return refusal(wire.CodeBadRequest, "pairing needs TLS 1.3 with channel binding")
	}
	return e.pair(ctx, remote, req.Proof, exporter, csr.Raw, csr.PublicKey)
}

func (e *Server) refused(kind, remote, why string) {
	e.log.Warn("Enrollment refused", "request", kind, "remote", remote, "reason", why)
	e.d.Store.Audit(store.Event{Kind: map[string]store.EventKind{wire.EnrollPair: store.EvPairRefused, wire.EnrollJoin: store.EvJoinRefused}[kind], Remote: remote, Detail: why})
}

func (e *Server) pair(ctx context.Context, remote string, proof, exporter, csrDER []byte, pub any) wire.EnrollResponse {
	code, name, why, ok := e.d.Windows.take(proof, exporter, csrDER)
	if !ok {
		e.refused(wire.EnrollPair, remote, why)
		return refusal(wire.CodeBadProof, "the hub is not waiting for a toy with this code; ask a parent to start pairing, then try again")
	}
	id := wire.NewDeviceID()
	iss, err := e.d.Issuer.Issue(pub, id)
	if err != nil {
		return refusal(wire.CodeStorage, "the hub could not issue a certificate")
	}
	if _, err := e.d.Store.PairDevice(ctx, string(code), store.NewDevice{ID: id, Name: name, Kind: store.KindToy, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter}); err != nil {
		e.refused(wire.EnrollPair, remote, "store: "+err.Error())
		return refusal(wire.CodeStorage, "the hub could not enroll the toy; start pairing again")
	}
	e.log.Info("Toy paired", "device", id, "remote", remote, "serial", iss.Serial)
	e.d.Store.Audit(store.Event{Kind: store.EvPaired, Device: id, Remote: remote})
	e.d.Household.Enrolled(ctx, id, store.KindToy, nil)
	ca := e.d.Issuer.CA()
	return wire.EnrollResponse{DeviceID: id, Kind: string(store.KindToy), Cert: string(iss.PEM), CA: string(ca.PEM),
		Hub: e.cfg.MQTT(), Proof: wire.HubProof(code, exporter, ca.Cert.Raw)}
}

func (e *Server) join(ctx context.Context, remote, secret string, pub any) wire.EnrollResponse {
	if secret == "" {
		return refusal(wire.CodeBadRequest, "no invite secret")
	}
	id := wire.NewDeviceID()
	iss, err := e.d.Issuer.Issue(pub, id)
	if err != nil {
		return refusal(wire.CodeStorage, "the hub could not issue a certificate")
	}
	d, toys, err := e.d.Store.RedeemInvite(ctx, secret, store.NewDevice{ID: id, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter})
	if errors.Is(err, store.ErrInviteForWeb) {
		e.refused(wire.EnrollJoin, remote, "parent's invite used by a device")
		return refusal(wire.CodeBadInvite, "this invite is for a parent's account: open its link in a web browser instead")
	}
	if err != nil {
		why := "invite unknown, used, expired or revoked"
		if !errors.Is(err, store.ErrBadInvite) {
			why = "store: " + err.Error()
		}
		e.refused(wire.EnrollJoin, remote, why)
		return refusal(wire.CodeBadInvite, "this invite cannot be used: it was used already, has expired or was withdrawn; ask for a new one")
	}
	e.log.Info("Device joined", "device", id, "remote", remote, "linked", len(toys), "serial", iss.Serial)
	e.d.Store.Audit(store.Event{Kind: store.EvJoined, Device: id, Remote: remote})
	e.d.Household.Enrolled(ctx, id, d.Kind, toys)
	return wire.EnrollResponse{DeviceID: d.ID, Kind: string(d.Kind), Cert: string(iss.PEM), CA: string(e.d.Issuer.CA().PEM),
		Hub: e.cfg.MQTT()}
}
