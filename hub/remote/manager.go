package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/toyhub/toyhub/store"
)

// Store is what remote access keeps in the hub's store: its settings, and
// the audit log.
type Store interface {
	Meta(ctx context.Context, key string) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error
	Audit(e store.Event)
}

// PortMapper asks the home router for the port mapping (Mapper).
type PortMapper interface {
	Map(ctx context.Context, port int) (Mapping, error)
	Unmap(ctx context.Context, m Mapping) error
}

// Deps are what the manager needs from the rest of the hub.
type Deps struct {
	Store Store
	// Door makes a door that serves the hub's handlers.
	Door func() *Door
	// Listen binds the remote port (or hands over the socket systemd
	// made for it).
	Listen  func(port int) (net.Listener, error)
	Mapper  PortMapper
	Changed func() // pages and the self-check hear of a change
	Log     *slog.Logger
	Now     func() time.Time
}

// Status is remote access as a parent sees it.
type Status struct {
	Settings
	Public    string // HOST:PORT, when on
	Listening bool
	Problem   string // why the port is not served, in words
	Warning   string
	Mapping   Mapping
	Renews    time.Time // when the mapping is asked again
	// LastOutside is when a device and when a browser last connected
	// through the remote port: the only honest sign, without a service on
	// the Internet, that the way in works.
	LastDevice, LastBrowser time.Time
}

const settingsKey = "remote"

// Manager runs remote access: it keeps the settings, serves the door on
// the remote port while remote access is on, keeps the router's mapping
// alive, and knows the state.
type Manager struct {
	defaults Settings
	d        Deps

	mu       sync.Mutex
	settings Settings
	door     *Door
	ln       net.Listener
	problem  string
	mapping  Mapping
	renews   time.Time
	lastDev  time.Time
	lastBrw  time.Time
	cancel   context.CancelFunc // the mapping's renewals
	wg       sync.WaitGroup
}

// NewManager makes the manager; defaults are the configuration file's
// settings, used until a parent changes them.
func NewManager(defaults Settings, d Deps) *Manager {
	if defaults.Port == 0 {
		defaults.Port = DefaultPort
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Changed == nil {
		d.Changed = func() {}
	}
	return &Manager{defaults: defaults, d: d}
}

// Start applies the settings the household last chose (or the
// configuration's).
func (m *Manager) Start(ctx context.Context) error {
	s, err := LoadSettings(ctx, m.d.Store, m.defaults)
	if err != nil {
		return err
	}
	m.apply(ctx, s)
	return nil
}

// Apply checks, keeps and applies new settings.
func (m *Manager) Apply(ctx context.Context, s Settings) (Status, error) {
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if err := s.Check(); err != nil {
		return m.Status(), err
	}
	// Settings that cannot be served (the port taken, or not the one the
	// service manager listens on) are refused, and the ones before stay.
	prev := m.Status().Settings
	m.apply(ctx, s)
	m.mu.Lock()
	problem := m.problem
	m.mu.Unlock()
	if problem != "" {
		m.apply(ctx, prev)
		return m.Status(), errors.New(strings.TrimSuffix(problem, "."))
	}
	b, _ := json.Marshal(s)
	if err := m.d.Store.SetMeta(ctx, settingsKey, b); err != nil {
		m.apply(ctx, prev)
		return m.Status(), err
	}
	return m.Status(), nil
}

func (m *Manager) apply(ctx context.Context, s Settings) {
	m.stop(ctx)
	m.mu.Lock()
	m.settings, m.problem = s, ""
	m.mu.Unlock()
	if !s.Enabled {
		m.d.Changed()
		return
	}
	ln, err := m.d.Listen(s.Port)
	if err != nil {
		m.mu.Lock()
		m.problem = fmt.Sprintf("The hub cannot listen on port %d: %v.", s.Port, err)
		m.mu.Unlock()
		m.d.Log.Error("Remote port not served", "port", s.Port, "error", err)
		m.d.Changed()
		return
	}
	door := m.d.Door()
	m.mu.Lock()
	m.door, m.ln = door, ln
	m.mu.Unlock()
	m.wg.Go(func() { door.Serve(ln) })
	m.d.Log.Info("Remote access on", "port", s.Port)
	if s.Map {
		rctx, cancel := context.WithCancel(context.Background())
		m.mu.Lock()
		m.cancel = cancel
		m.mu.Unlock()
		m.wg.Go(func() { m.keepMapped(rctx, s.Port) })
	}
	m.d.Changed()
}

// keepMapped asks for the mapping, and again before its lease runs out,
// until cancelled; a changed external address is told.
func (m *Manager) keepMapped(ctx context.Context, port int) {
	var last netip.Addr
	for {
		mp, err := m.d.Mapper.Map(ctx, port)
		if ctx.Err() != nil {
			if mp.State == MapDone {
				m.d.Mapper.Unmap(context.Background(), mp)
			}
			return
		}
		wait := 5 * time.Minute // when it failed: try again
		if err == nil && mp.State == MapDone && mp.Lease > 0 {
			wait = mp.Lease / 2
		} else if err == nil && mp.State == MapDone {
			wait = 30 * time.Minute // a lease for ever: look now and then that it is still there
		}
		moved := err == nil && mp.State == MapDone && last.IsValid() && mp.External.IsValid() && mp.External != last
		m.mu.Lock()
		if moved {
			mp.Message += " " + movedMessage(last, mp.External, m.settings.Host)
		} else if m.mapping.External == mp.External && strings.Contains(m.mapping.Message, "address on the Internet changed") {
			mp.Message = m.mapping.Message // still news until the address moves again
		}
		changed := m.mapping.State != mp.State || moved
		m.mapping, m.renews = mp, m.d.Now().Add(wait)
		m.mu.Unlock()
		switch {
		case err != nil:
			m.d.Log.Error("Port mapping failed", "port", port, "error", err)
		case moved:
			m.d.Log.Warn("Router's external address changed", "from", last.String(), "to", mp.External.String())
			m.d.Store.Audit(store.Event{Kind: store.EvRemoteMapped, Detail: "external address changed, " + mp.Method})
		case changed && mp.State == MapDone:
			m.d.Log.Info("Port mapped", "port", port, "method", mp.Method, "lease", mp.Lease.String())
			m.d.Store.Audit(store.Event{Kind: store.EvRemoteMapped, Detail: mp.Method})
		case changed:
			m.d.Log.Warn("Port not mapped", "port", port, "state", mp.State)
			m.d.Store.Audit(store.Event{Kind: store.EvRemoteMapFailed, Detail: mp.State})
		}
		if mp.External.IsValid() {
			last = mp.External
		}
		if changed {
			m.d.Changed()
		}
		select {
		case <-ctx.Done():
			if mp.State == MapDone {
				uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := m.d.Mapper.Unmap(uctx, mp); err != nil {
					m.d.Log.Warn("Port mapping not removed", "port", port, "error", err)
				} else {
					m.d.Log.Info("Port mapping removed", "port", port)
				}
				cancel()
			}
			return
		case <-time.After(wait):
		}
	}
}

// stop closes the door and removes the mapping.
func (m *Manager) stop(ctx context.Context) {
	m.mu.Lock()
	door, cancel := m.door, m.cancel
	m.door, m.ln, m.cancel = nil, nil, nil
	m.mapping, m.renews = Mapping{}, time.Time{}
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if door != nil {
		door.Close()
	}
	m.wg.Wait()
}

// Close ends remote access for the hub's stop: the door closes and the
// router forgets the mapping. The settings stay.
func (m *Manager) Close() { m.stop(context.Background()) }

// Accepted records a connection that passed the door's handshake.
func (m *Manager) Accepted(kind string) {
	now := m.d.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch kind {
	case KindDevice, KindEnroll:
		m.lastDev = now
	case KindBrowser:
		m.lastBrw = now
	}
}

// Status is the state now.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Settings: m.settings, Public: m.settings.Public(), Listening: m.door != nil, Problem: m.problem,
		Warning: m.settings.Warning(), Mapping: m.mapping, Renews: m.renews, LastDevice: m.lastDev, LastBrowser: m.lastBrw}
	switch {
	case !m.settings.Enabled:
		st.Mapping = Mapping{State: MapOff}
	case !m.settings.Map:
		to := "the hub"
		if _, local, err := gateway(); err == nil {
			to = "the hub, " + local.String()
		}
		st.Mapping = Mapping{State: MapOff, Port: m.settings.Port,
			Message: fmt.Sprintf("You forward TCP port %d to %s, port %d, by hand: in your router's settings, under \"port forwarding\". "+
				"The hub does not ask the router.", m.settings.Port, to, m.settings.Port)}
	case st.Listening && st.Mapping.State == "":
		st.Mapping = Mapping{State: MapAsking, Port: m.settings.Port, Message: "The hub is asking the router to forward the port…"}
	}
	return st
}

// LoadSettings are the settings the household last chose, or defaults.
func LoadSettings(ctx context.Context, st Store, defaults Settings) (Settings, error) {
	s := defaults
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	b, err := st.Meta(ctx, settingsKey)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("remote: settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("remote: settings: %w", err)
	}
	return s, nil
}

// movedMessage says what a new address on the Internet means for the way
// in: nothing with a name that the router keeps up to date; a lost way
// with a bare address.
func movedMessage(from, to netip.Addr, host string) string {
	said := fmt.Sprintf("Your home's address on the Internet changed from %s to %s.", from, to)
	if a, err := netip.ParseAddr(host); err == nil && a != to {
		return said + fmt.Sprintf(" Family far away use %s, which no longer reaches your home: turn remote access on again with %s, "+
			"or better, with your router's dynamic-DNS name, which follows such changes.", host, to)
	}
	return said + " Family far away use " + host + ", which your router's dynamic DNS keeps pointing at your home: nothing to do."
}
