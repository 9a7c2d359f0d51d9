package hub

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
	"github.com/toyhub/toyhub/wire"
)

// enroller serves the enrollment endpoint: one TLS 1.3 listener with
// server authentication only, where a toy pairs with the code on its label
// and an invited device joins. Nothing else is served there, and every
// refusal is rate-limited and audited.
type enroller struct {
	h     *Hub
	ln    net.Listener
	slots chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	windows []*pairWindow // open, and recently closed (to explain refusals)
	limit   *limiter
}

// pairWindow is a parent's 'toyhub pair': for a while, the toy with this
// code may pair and will be called name. The code is held in memory only
// (it is needed to check HMACs); once spent, only its hash is stored.
type pairWindow struct {
	code    wire.PairingCode
	name    string
	expires time.Time
	used    bool
}

func newEnroller(h *Hub) *enroller {
	return &enroller{h: h, slots: make(chan struct{}, 16),
		limit: newLimiter(h.cfg.EnrollFailuresPerSource, h.cfg.EnrollFailuresGlobal, h.cfg.EnrollFailureWindow)}
}

func (e *enroller) listen() error {
	ln, err := tls.Listen("tcp", e.h.cfg.EnrollAddr, certs.EnrollServerTLS(e.h.cert.Get, e.h.ca.Cert))
	if err != nil {
		return fmt.Errorf("hub: enrollment endpoint %s: %w", e.h.cfg.EnrollAddr, err)
	}
	e.ln = ln
	e.wg.Add(1)
	go e.serve()
	return nil
}

func (e *enroller) addr() string { return e.ln.Addr().String() }

func (e *enroller) close() {
	if e.ln != nil {
		e.ln.Close()
	}
	e.wg.Wait()
}

func (e *enroller) serve() {
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

func (e *enroller) serveConn(c *tls.Conn) {
	defer c.Close()
	remote := c.RemoteAddr().String()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := c.Handshake(); err != nil {
		e.h.log.Debug("Enrollment handshake failed", "remote", remote, "error", err)
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
	default:
		ctx, cancel := context.WithTimeout(e.h.ctx, 10*time.Second)
		resp = e.handle(ctx, c, remote, req)
		cancel()
	}
	b, _ := json.Marshal(resp)
	c.Write(append(b, '\n'))
}

func refusal(code, msg string) wire.EnrollResponse {
	return wire.EnrollResponse{Error: &wire.Error{Code: code, Message: msg}}
}

func (e *enroller) handle(ctx context.Context, c *tls.Conn, remote string, req wire.EnrollRequest) wire.EnrollResponse {
	kind := req.Kind
	if kind != wire.EnrollPair && kind != wire.EnrollJoin {
		return refusal(wire.CodeBadRequest, "unknown enrollment request")
	}
	source, _, _ := net.SplitHostPort(remote)
	now := e.h.cfg.Now()
	if !e.limit.allowed(source, now) {
		e.refused(kind, remote, "rate limited")
		return refusal(wire.CodeRateLimited, "too many failed attempts; wait a few minutes and try again")
	}
	csr, err := certs.ParseCSR([]byte(req.CSR))
	if err != nil {
		return refusal(wire.CodeBadRequest, err.Error())
	}
	if kind == wire.EnrollJoin {
		return e.join(ctx, remote, source, req.Secret, csr.PublicKey)
	}
	st := c.ConnectionState()
	exporter, err := st.ExportKeyingMaterial(wire.ExporterLabel, nil, wire.ExporterLen)
	if err == nil {
		err = wire.CheckExporter(exporter)
	}
	if err != nil || st.Version != tls.VersionTLS13 {
		return refusal(wire.CodeBadRequest, "pairing needs TLS 1.3 with channel binding")
	}
	return e.pair(ctx, remote, source, req.Proof, exporter, csr.Raw, csr.PublicKey)
}

func (e *enroller) refused(kind, remote, why string) {
	e.h.log.Warn("Enrollment refused", "request", kind, "remote", remote, "reason", why)
	e.h.store.Audit(store.Event{Kind: map[string]store.EventKind{wire.EnrollPair: store.EvPairRefused, wire.EnrollJoin: store.EvJoinRefused}[kind], Remote: remote, Detail: why})
}

// open starts a pairing window for a code, as 'toyhub pair' asks.
func (e *enroller) open(ctx context.Context, code wire.PairingCode, name string, by web.Actor) (time.Time, error) {
	if err := store.CheckName(name); err != nil {
		return time.Time{}, fmt.Errorf("toy name: %w", err)
	}
	if used, err := e.h.store.PairingCodeUsed(ctx, string(code)); err != nil {
		return time.Time{}, err
	} else if used {
		return time.Time{}, errors.New("this code has already paired a toy; a label's code works once")
	}
	if _, err := e.h.store.DeviceByName(ctx, name); err == nil {
		return time.Time{}, errors.New("a device with that name already exists; choose another name")
	}
	now := e.h.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.prune(now)
	for _, w := range e.windows {
		if w.code == code && !w.used && now.Before(w.expires) {
			return time.Time{}, errors.New("pairing with this code is already waiting for the toy")
		}
	}
	w := &pairWindow{code: code, name: name, expires: now.Add(e.h.cfg.PairingWindow)}
	e.windows = append(e.windows, w)
	e.h.store.Audit(store.Event{Kind: store.EvPairOpened, User: by.User, Remote: by.Remote, Detail: "window " + e.h.cfg.PairingWindow.String()})
	return w.expires, nil
}

// prune forgets closed windows after a day; until then they explain why a
// late or repeated attempt is refused.
func (e *enroller) prune(now time.Time) {
	kept := e.windows[:0]
	for _, w := range e.windows {
		if now.Sub(w.expires) < 24*time.Hour {
			kept = append(kept, w)
		}
	}
	e.windows = kept
}

func (e *enroller) pair(ctx context.Context, remote, source string, proof, exporter, csrDER []byte, pub any) wire.EnrollResponse {
	now := e.h.cfg.Now()
	e.mu.Lock()
	var match *pairWindow
	why := "wrong code, or no pairing started"
	// An open window with this code wins; a closed one only explains the
	// refusal (the same code may have an expired window and a new one).
	for _, w := range e.windows {
		if !hmac.Equal(wire.ToyProof(w.code, exporter, csrDER), proof) {
			continue
		}
		switch {
		case w.used:
			why = "code already used"
		case !now.Before(w.expires):
			why = "pairing window expired"
		case match == nil:
			match = w
		}
	}
	if match != nil {
		match.used = true
	}
	e.mu.Unlock()
	if match == nil {
		e.limit.failed(source, now)
		e.refused(wire.EnrollPair, remote, why)
		return refusal(wire.CodeBadProof, "the hub is not waiting for a toy with this code; ask a parent to start pairing, then try again")
	}
	id := wire.NewDeviceID()
	iss, err := e.h.ca.IssueClient(pub, id, e.h.cfg.DeviceCertValidity, now)
	if err != nil {
		return refusal(wire.CodeStorage, "the hub could not issue a certificate")
	}
	if _, err := e.h.store.PairDevice(ctx, string(match.code), store.NewDevice{ID: id, Name: match.name, Kind: store.KindToy, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter}); err != nil {
		e.refused(wire.EnrollPair, remote, "store: "+err.Error())
		return refusal(wire.CodeStorage, "the hub could not enroll the toy; start pairing again")
	}
	e.h.log.Info("Toy paired", "device", id, "remote", remote, "serial", iss.Serial)
	e.h.store.Audit(store.Event{Kind: store.EvPaired, Device: id, Remote: remote})
	e.h.linkParents(ctx, id)
	e.h.changes.Publish(id)
	e.h.configChanged()
	return wire.EnrollResponse{DeviceID: id, Kind: string(store.KindToy), Cert: string(iss.PEM), CA: string(e.h.ca.PEM),
		Hub: lan.Advertised(e.h.cfg.AdvertiseHosts, e.h.lis.Address()), Proof: wire.HubProof(match.code, exporter, e.h.ca.Cert.Raw)}
}

func (e *enroller) join(ctx context.Context, remote, source, secret string, pub any) wire.EnrollResponse {
	now := e.h.cfg.Now()
	if secret == "" {
		return refusal(wire.CodeBadRequest, "no invite secret")
	}
	id := wire.NewDeviceID()
	iss, err := e.h.ca.IssueClient(pub, id, e.h.cfg.DeviceCertValidity, now)
	if err != nil {
		return refusal(wire.CodeStorage, "the hub could not issue a certificate")
	}
	d, toys, err := e.h.store.RedeemInvite(ctx, secret, store.NewDevice{ID: id, CertSerial: iss.Serial, CertExpiry: iss.Cert.NotAfter})
	if errors.Is(err, store.ErrInviteForWeb) {
		e.refused(wire.EnrollJoin, remote, "parent's invite used by a device")
		return refusal(wire.CodeBadInvite, "this invite is for a parent's account: open its link in a web browser instead")
	}
	if err != nil {
		why := "invite unknown, used, expired or revoked"
		if !errors.Is(err, store.ErrBadInvite) {
			why = "store: " + err.Error()
		}
		e.limit.failed(source, now)
		e.refused(wire.EnrollJoin, remote, why)
		return refusal(wire.CodeBadInvite, "this invite cannot be used: it was used already, has expired or was withdrawn; ask for a new one")
	}
	e.h.log.Info("Device joined", "device", id, "remote", remote, "linked", len(toys), "serial", iss.Serial)
	e.h.store.Audit(store.Event{Kind: store.EvJoined, Device: id, Remote: remote})
	e.h.changes.Publish(append([]string{id}, toys...)...)
	e.h.configChanged()
	return wire.EnrollResponse{DeviceID: d.ID, Kind: string(d.Kind), Cert: string(iss.PEM), CA: string(e.h.ca.PEM),
		Hub: lan.Advertised(e.h.cfg.AdvertiseHosts, e.h.lis.Address())}
}

// limiter counts failed attempts per source address and in all over a
// sliding window. Success does not count, so a family pairing its toys is
// never slowed, while guessing is: a few tries per address, and a bound
// for the whole LAN.
type limiter struct {
	mu        sync.Mutex
	perSource int
	global    int
	window    time.Duration
	bySource  map[string][]time.Time
	all       []time.Time
}

func newLimiter(perSource, global int, window time.Duration) *limiter {
	return &limiter{perSource: perSource, global: global, window: window, bySource: map[string][]time.Time{}}
}

func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

func (l *limiter) allowed(source string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := now.Add(-l.window)
	l.all = recent(l.all, since)
	l.bySource[source] = recent(l.bySource[source], since)
	if len(l.bySource[source]) == 0 {
		delete(l.bySource, source)
	}
	return len(l.all) < l.global && len(l.bySource[source]) < l.perSource
}

func (l *limiter) failed(source string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, now)
	if len(l.bySource) > 10000 {
		// A flood of sources: the global bound alone applies.
		return
	}
	l.bySource[source] = append(l.bySource[source], now)
}
