package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/store"
)

//go:embed templates/*.html templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the web app needs of the hub's store.
type Store interface {
	Space() (store.Space, error)
	SetupPending(ctx context.Context) (bool, error)
	CreateOwner(ctx context.Context, token string, nu store.NewUser) (store.User, error)
	UserByLogin(ctx context.Context, login string) (store.User, error)
	User(ctx context.Context, id string) (store.User, error)
	Users(ctx context.Context) ([]store.User, error)
	DeleteUser(ctx context.Context, id string) error
	SetTOTP(ctx context.Context, id, secret string) error
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	CreateSession(ctx context.Context, token, userID, remote string) error
	SessionUser(ctx context.Context, token string, idle, absolute time.Duration) (store.Session, store.User, error)
	Sessions(ctx context.Context, userID string) ([]store.Session, error)
	EndSession(ctx context.Context, tokenHash []byte) error
	EndUserSession(ctx context.Context, userID string, tokenHash []byte) error
	SetPassword(ctx context.Context, id, hash string, policyVersion int) error
	SetHousehold(ctx context.Context, name string) error
	Household(ctx context.Context) (string, error)
	Meta(ctx context.Context, key string) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error

	Device(ctx context.Context, id string) (store.Device, error)
	Devices(ctx context.Context) ([]store.Device, error)
	RenameDevice(ctx context.Context, id, name string) error
	Contacts(ctx context.Context, id string) ([]string, error)
	Link(ctx context.Context, a, b string) error
	Unlink(ctx context.Context, a, b string) error
	Conversation(ctx context.Context, toy string, v store.Viewer, limit int) ([]store.MessageInfo, error)
	OpenAudio(ctx context.Context, id, toy string, v store.Viewer) (store.Audio, error)
	WriteAudio(ctx context.Context, a store.Audio, w io.Writer) error

	DeviceSettings(ctx context.Context, id string) (store.Settings, error)
	NextDeletions(ctx context.Context, toy string, limit int) ([]store.Deletion, error)
	LinksOf(ctx context.Context, id string) ([]store.LinkState, error)
	PendingLinks(ctx context.Context) ([]store.LinkState, error)
	SetMuted(ctx context.Context, a, b string, muted bool) error

	Invites(ctx context.Context) ([]store.Invite, error)
	InviteBySecret(ctx context.Context, secret string) (store.Invite, error)
	RedeemInviteAccount(ctx context.Context, secret string, nu store.NewUser) (store.User, []string, error)
	RevokeInvite(ctx context.Context, id string) error

	Audit(e store.Event)
	AuditLog(ctx context.Context, limit int) ([]store.Event, error)
}

var _ Store = (*store.Store)(nil)

// Hub is what the web app asks of the running hub: the message path,
// enrollment and who is connected. What a person does in the browser takes
// the same path as what a device does.
type Hub interface {
	Online(deviceID string) bool
	NewDeviceID() string
	// Send stores a WAV recording from a device to recipients (device
	// IDs) and announces it; a recording the toys cannot play is
	// ErrBadAudio.
	Send(ctx context.Context, from string, to []string, wav []byte) (messageID string, err error)
	// Fetched and Played record a delivery to an account's device.
	Fetched(device, messageID string)
	Played(ctx context.Context, device, messageID string) error
	// Pair opens a pairing window for a toy's label code.
	Pair(ctx context.Context, by Actor, code, name string) (time.Time, error)
	Revoke(ctx context.Context, deviceID string) error
	// Remove removes a device for good (and its account, if it is one),
	// keeping its messages without its name, or deleting them.
	Remove(ctx context.Context, by Actor, deviceID string, keepMessages bool) error
	// DeleteMessages deletes messages for good.
	DeleteMessages(ctx context.Context, by Actor, ids []string) (int, error)
	// Wipe deletes everything (the household's data, keys and CA) once the
	// owner's password is confirmed; the hub stops and starts anew.
	Wipe(ctx context.Context, by Actor, login, password string) error
	// Export writes the household's archive to w, encrypted under
	// passphrase unless it is empty.
	Export(ctx context.Context, by Actor, w io.Writer, passphrase []byte) (int, error)
	// SetSettings changes a device's retention, quiet hours and limit.
	SetSettings(ctx context.Context, by Actor, deviceID string, st store.Settings) error
	// Invite creates an invite for a family member (linked to toys) or,
	// with parent set, for a parent.
	Invite(ctx context.Context, by Actor, name string, parent bool, toys []string) (Invite, error)
	// Security returns the newest self-check report, the history of
	// runs, and whether one is running.
	Security(ctx context.Context) (SecurityState, error)
	// RunSecurity starts a self-check (with the network scan if asked)
	// and returns at once; pages hear of its end as a change.
	RunSecurity(network bool) error
	// LoginFailed counts a failed login (wrong password or code).
	LoginFailed()
	// ConfigChanged says that accounts, links or settings changed, so
	// that the hub checks its security again.
	ConfigChanged(devices ...string)
	// Watch reports what changed, until stop is called: each receive
	// lists the devices whose pages should reload (none: every page).
	Watch() (changes <-chan []string, stop func())
}

// ErrBadAudio marks a recording that is not one the toys accept.
var ErrBadAudio = errors.New("not a recording the toys can play")

// Invite is a new invite, with its secret (shown once).
type Invite struct {
	ID         string
	Secret     string
	DeviceLink string // toyhub://join… for a family device
	Expires    time.Time
}

// SecurityState is what the security page shows.
type SecurityState struct {
	Latest  *SecurityReport // nil before the first check
	History []SecurityRun   // newest first
	Running bool            // a check is running now
}

// SecurityReport is a self-check's result as the security page shows it.
type SecurityReport struct {
	At                time.Time
	Trigger           string
	High, Medium, Low int
	Problems          []SecurityFinding // worst first
	Passed            []SecurityFinding
	Network           string // what the network scan covered, if it ran
}

// SecurityFinding is one finding, in plain words.
type SecurityFinding struct {
	Severity, Title, Checked, Seen, Fix, Where string
}

// SecurityRun is a line of the self-check's history.
type SecurityRun struct {
	At                time.Time
	Trigger           string
	High, Medium, Low int
}

// Actor is who asked for an action, for the audit log: an account ID and
// the address it came from.
type Actor struct{ User, Remote string }

// Config configures the web app.
type Config struct {
	// TLS serves the hub's server certificate; the app is HTTPS only.
	TLS *tls.Config
	// CAPEM and CAFingerprint are shown on the page that explains how to
	// trust the hub.
	CAPEM         []byte
	CAFingerprint string
	// Household words that no password may contain (names of the
	// household, its children and toys), besides the account's own.
	PasswordContext func(ctx context.Context) []string

	// MaxRecording bounds a recording sent from the browser (default
	// 2 MiB, the hub's own bound for a message).
	MaxRecording int64
	// EventStreamLife is how long one live-update stream lasts before the
	// browser opens a new one (default 5 minutes).
	EventStreamLife time.Duration

	IdleTimeout     time.Duration // default 30 minutes
	AbsoluteTimeout time.Duration // default 12 hours
	Logger          *slog.Logger
	Now             func() time.Time
}

// Server is the web app.
type Server struct {
	cfg     Config
	st      Store
	hub     Hub
	log     *slog.Logger
	tmpl    map[string]*template.Template
	static  string // content-hashed URL prefix of the static files
	logins  *loginLimiter
	pending pendingLogins
	streams streams
	scans   chan struct{} // bounds label photos decoded at once
	quit    chan struct{} // closed when the server shuts down, to end event streams
	srv     *http.Server
	// setUp is set once setup is seen done; it cannot be undone, so the
	// guard stops asking the store on every request.
	setUp atomic.Bool
}

// New parses every template at start, so a missing one fails here.
func New(cfg Config, st Store, hub Hub) (*Server, error) {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.AbsoluteTimeout == 0 {
		cfg.AbsoluteTimeout = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRecording == 0 {
		cfg.MaxRecording = 2 << 20
	}
	if cfg.EventStreamLife == 0 {
		cfg.EventStreamLife = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordContext == nil {
		cfg.PasswordContext = func(context.Context) []string { return nil }
	}
	s := &Server{cfg: cfg, st: st, hub: hub, scans: make(chan struct{}, 1), quit: make(chan struct{}), log: cfg.Logger, tmpl: map[string]*template.Template{}, logins: newLoginLimiter()}
	sum := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		sum.Write([]byte(path))
		sum.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	s.static = "/static/" + hex.EncodeToString(sum.Sum(nil))[:12] + "/"
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"static": func(name string) string { return s.static + name },
		"mb":     func(n int64) string { return fmt.Sprintf("%d MB", n>>20) },
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/nav.tmpl", p)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.tmpl[name] = t
	}
	for _, need := range []string{"setup", "login", "code", "join", "home", "toy", "toys", "family", "account", "totp", "security", "audit", "export", "wipe", "trust", "message"} {
		if s.tmpl[need] == nil {
			return nil, fmt.Errorf("web: template %s is missing", need)
		}
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// Event streams never go idle; Shutdown would wait for them.
	s.srv.RegisterOnShutdown(func() { close(s.quit) })
	return s, nil
}

// Handler is the whole app, every route behind the security wrapper.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.Handle(r.Pattern, s.guard(r))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+s.static, http.StripPrefix(s.static, http.FileServerFS(static)))
	return secure(mux)
}

// Serve serves HTTPS on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(tls.NewListener(ln, s.cfg.TLS))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// RedirectHandler is all that plain HTTP may serve: a redirect to HTTPS.
func RedirectHandler(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		http.Redirect(w, r, "https://"+net.JoinHostPort(host, httpsPort)+"/", http.StatusMovedPermanently)
	})
}
