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
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the web app needs of the hub's store.
type Store interface {
	SetupPending(ctx context.Context) (bool, error)
	CreateOwner(ctx context.Context, token string, nu store.NewUser) (store.User, error)
	UserByLogin(ctx context.Context, login string) (store.User, error)
	CreateSession(ctx context.Context, token, userID, remote string) error
	SessionUser(ctx context.Context, token string, idle, absolute time.Duration) (store.Session, store.User, error)
	EndSession(ctx context.Context, tokenHash []byte) error
	Audit(e store.Event)
}

var _ Store = (*store.Store)(nil)

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

	IdleTimeout     time.Duration // default 30 minutes
	AbsoluteTimeout time.Duration // default 12 hours
	Logger          *slog.Logger
	Now             func() time.Time
}

// Server is the web app.
type Server struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	tmpl   map[string]*template.Template
	static string // content-hashed URL prefix of the static files
	logins *loginLimiter
	srv    *http.Server
	// setUp is set once setup is seen done; it cannot be undone, so the
	// guard stops asking the store on every request.
	setUp atomic.Bool
}

// New parses every template at start, so a missing one fails here.
func New(cfg Config, st Store) (*Server, error) {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.AbsoluteTimeout == 0 {
		cfg.AbsoluteTimeout = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordContext == nil {
		cfg.PasswordContext = func(context.Context) []string { return nil }
	}
	s := &Server{cfg: cfg, st: st, log: cfg.Logger, tmpl: map[string]*template.Template{}, logins: newLoginLimiter()}
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
	funcs := template.FuncMap{"static": func(name string) string { return s.static + name }}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.tmpl[name] = t
	}
	for _, need := range []string{"setup", "login", "home", "trust", "message"} {
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
