// Package household is every operation a family does on its hub, written
// once whatever door it comes through: the console (package control), the
// web app, and any later door. Each operation takes the Actor who asks;
// checks what is asked and whether the actor may ask it; does it; writes
// its audit event (store.EventKind); tells the self-check that the
// household's configuration changed when it did; and tells the open pages
// which devices changed. The doors are thin adapters: they read their
// request, call here, and show the result.
//
// The package knows nothing of the doors or of the hub's internals: what
// it needs of the rest of the hub (the broker's connections and message
// path, pairing windows, the self-check, the hub's addresses) it asks
// through small interfaces defined here.
//
// # Errors
//
// An error that is a *Refusal says, in words for the person who asked,
// why the operation was not done: bad input, a name in use, something that
// is not there or not theirs to change. Any other error is the hub's own
// failure.
//
// # Concurrency
//
// A Service is safe for concurrent use.
package household

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/remote"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Actor is who asks for an operation, as the audit log records it.
type Actor struct {
	// User is the account that asks; empty for the console.
	User string
	// Remote is where the request came from: an address, or "console".
	Remote string
}

// Console is the hub's own console. Reaching it takes the hub's user on
// the hub itself, so it may do anything.
var Console = Actor{Remote: "console"}

func (a Actor) console() bool { return a.User == "" && a.Remote == Console.Remote }

// Refusal is an operation refused for a reason the person who asked can
// act on. Err, when set, is the cause (such as store.ErrExists).
type Refusal struct {
	Text string
	Err  error
}

func (r *Refusal) Error() string { return r.Text }
func (r *Refusal) Unwrap() error { return r.Err }

// Refused marks the error as a refusal for doors that cannot name this
// package's types.
func (r *Refusal) Refused() bool { return true }

func refuse(format string, args ...any) *Refusal {
	return &Refusal{Text: fmt.Sprintf(format, args...)}
}

func refuseErr(err error, format string, args ...any) *Refusal {
	return &Refusal{Text: fmt.Sprintf(format, args...), Err: err}
}

// Config is the household service's slice of the hub's configuration.
type Config struct {
	InviteExpiry    time.Duration // the default life of an invite
	MaxInviteExpiry time.Duration
	RetentionEvery  time.Duration // how often retention is enforced
	Version         string
	Now             func() time.Time
}

// Issuer issues device certificates from the household CA.
type Issuer interface {
	Issue(pub crypto.PublicKey, device string) (certs.Issued, error)
	CA() *certs.CA
}

// Connections are the devices connected to the broker.
type Connections interface {
	Online(id string) bool
	Disconnect(id string) bool
}

// Messages is the message path, shared with the devices' own.
type Messages interface {
	Send(ctx context.Context, from string, to []string, wav []byte) (id string, err error)
	Delivered(device, id string)
	Played(ctx context.Context, device, id string) error
}

// Pairing holds the pairing windows parents open.
type Pairing interface {
	Open(code wire.PairingCode, name string) (time.Time, error)
	Life() time.Duration
	// State says what became of the newest window for a toy called
	// name: "waiting" (until when), "paired", "expired" or "".
	State(name string) (state string, until time.Time)
}

// Checks is the security self-check.
type Checks interface {
	// ConfigChanged runs the check again soon.
	ConfigChanged()
	Run(ctx context.Context, trigger string, network bool, targets []string) (audit.Report, error)
	// Begin starts a check in the background.
	Begin(network bool) error
}

// Live tells the open pages which devices changed.
type Live interface{ Publish(ids ...string) }

// Addresses are where the hub answers, as devices and people reach it.
type Addresses interface {
	// Broker is the address the broker is bound to; MQTT, those devices
	// are told to use, in order.
	Broker() string
	MQTT() []string
	// Enroll lists where an invited device finds the enrollment endpoint.
	Enroll() []string
	// Web is the web app's address as a person on the LAN opens it, or ""
	// when the web app is off.
	Web() string
}

// Stopper stops the hub.
type Stopper interface {
	Stop()
	// Restart stops the hub for it to start again at once.
	Restart()
	// Wipe stops the hub and has it delete everything once stopped.
	Wipe()
}

// Deps are what the service needs from the rest of the hub.
type Deps struct {
	Store       *store.Store
	DataDir     string // for backups' snapshots
	MasterKey   string
	Issuer      Issuer
	Connections Connections
	Messages    Messages
	Pairing     Pairing
	Checks      Checks
	Live        Live
	Addresses   Addresses
	Stopper     Stopper
	Remote      Remote
	Log         *slog.Logger
}

// Remote is remote access (remote.Manager).
type Remote interface {
	Apply(ctx context.Context, s remote.Settings) (remote.Status, error)
	Status() remote.Status
}

// Service is the household's operations.
type Service struct {
	cfg Config
	d   Deps
	st  *store.Store
	log *slog.Logger
}

// New makes the service.
func New(cfg Config, d Deps) *Service {
	return &Service{cfg: cfg, d: d, st: d.Store, log: d.Log}
}

// role is who may ask for an operation.
type role int

const (
	member role = iota // any account, for itself
	parent             // a parent or the owner
	owner              // the owner alone
)

// allow decides whether the actor may do an operation that needs role;
// the console may do anything. It returns the actor's account, if any.
func (s *Service) allow(ctx context.Context, by Actor, need role) (store.User, error) {
	if by.console() {
		return store.User{}, nil
	}
	if by.User == "" {
		return store.User{}, refuse("log in first")
	}
	u, err := s.st.User(ctx, by.User)
	if errors.Is(err, store.ErrNotFound) {
		return u, refuseErr(err, "this account no longer exists")
	}
	if err != nil {
		return u, err
	}
	isParent := u.Role == store.RoleOwner || u.Role == store.RoleParent
	switch {
	case need == parent && !isParent:
		s.log.Warn("Operation refused", "user", u.ID, "reason", "parents only")
		return u, refuse("only parents can do this")
	case need == owner && u.Role != store.RoleOwner:
		s.log.Warn("Operation refused", "user", u.ID, "reason", "owner only")
		return u, refuse("only the owner can do this")
	}
	return u, nil
}

// audit records an operation's event, with who asked.
func (s *Service) audit(by Actor, kind store.EventKind, device, detail string) {
	s.st.Audit(store.Event{Kind: kind, User: by.User, Device: device, Remote: by.Remote, Detail: detail})
}

// changed tells the self-check that the household's configuration
// changed, and the open pages which devices it concerns.
func (s *Service) changed(devices ...string) {
	s.d.Checks.ConfigChanged()
	s.d.Live.Publish(devices...)
}
