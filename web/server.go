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
)

//go:embed templates/*.html templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the web app.
type Config struct {
	// TLS serves the hub's server certificate; the app is HTTPS only.
	TLS *tls.Config
	// CAPEM and CACode (certs.Code) are on the page that explains how to
	// trust the hub: the CA to install, and the code to compare with the
	// hub's console.
	CAPEM  []byte
	CACode string
	// CANames are the names the CA may vouch for, shown to say what
	// trusting it means.
	CANames []string
	// Remote makes this the remote door's app: only browsers with a
	// household certificate, or redeeming an open invite (see remoteGate),
	// under stricter limits.
	Remote bool
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
	hh      Household
	log     *slog.Logger
	tmpl    map[string]*template.Template
	static  string // content-hashed URL prefix of the static files
	limits  *limits
	pending pendingLogins
	streams streams
	scans   chan struct{} // bounds label photos decoded at once
	// strangers bounds the password checks waiting for logins from
	// browsers and addresses no account knows (see login).
	strangers *gate
	downloads downloads     // new certificates' files, for a while
	refusals  quota         // of logins told to wait, in the audit log
	quit      chan struct{} // closed when the server shuts down, to end event streams
	srv       *http.Server
	// setUp is set once setup is seen done; it cannot be undone, so the
	// guard stops asking the store on every request.
	setUp atomic.Bool
}

// New parses every template at start, so a missing one fails here.
func New(cfg Config, st Store, hh Household) (*Server, error) {
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
	s := &Server{cfg: cfg, st: st, hh: hh, scans: make(chan struct{}, 1), strangers: newGate(2, 64), refusals: quota{burst: 20, window: time.Minute}, quit: make(chan struct{}), log: cfg.Logger, tmpl: map[string]*template.Template{}, limits: newLimits(cfg.Remote)}
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
		"caCode": func() string { return s.cfg.CACode },
		"when":   func(t time.Time) template.HTML { return timeTag(t, "datetime", "2 Jan 15:04") },
		"clock":  func(t time.Time) template.HTML { return timeTag(t, "time", "15:04") },
		"sub":    func(a, b int) int { return a - b },
		// appCSS is the style sheet, for a page that carries its own (the
		// remote door's pages for a browser without a certificate).
		"appCSS": func() template.CSS { b, _ := staticFS.ReadFile("static/app.css"); return template.CSS(b) },
		"severity": func(s string) string {
			return map[string]string{"high": "serious", "medium": "to look at", "low": "small"}[s]
		},
		"trigger": func(t string) string {
			if w, ok := triggerWords[t]; ok {
				return w
			}
			return "on its own"
		},
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" || name == "layout-bare" {
			continue
		}
		if name == "join" || name == "certificate" {
			// Also with the remote door's bare layout: its style in the
			// page, for a browser that may fetch no static file.
			t, err := template.New("layout-bare.html").Funcs(funcs).ParseFS(templateFS, "templates/layout-bare.html", "templates/*.tmpl", p)
			if err != nil {
				return nil, fmt.Errorf("web: template %s: %w", name, err)
			}
			s.tmpl[name+".bare"] = t
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/*.tmpl", p)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.tmpl[name] = t
	}
	for _, need := range []string{"setup", "login", "code", "join", "home", "toy", "toys", "family", "account", "totp", "security", "audit", "export", "wipe", "trust", "message", "confirm", "certificate", "remote"} {
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
		MaxHeaderBytes:    32 << 10, // HTTP/2's header list too
		HTTP2:             http2Limits,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// Event streams never go idle; Shutdown would wait for them.
	s.srv.RegisterOnShutdown(func() { close(s.quit) })
	return s, nil
}

// http2Limits are HTTP/2's bounds, set here rather than left to Go's
// defaults (100 streams, 1 MiB buffered per stream and connection): one
// connection holds at most 16 requests at once and 256 KiB of request
// bodies the handlers have not read, whatever its streams send, so that
// the bodies a connection can make the hub hold are bounded by the bytes
// a form may have (see Body) and these windows.
var http2Limits = &http.HTTP2Config{
	MaxConcurrentStreams:          16,
	MaxReadFrameSize:              16 << 10, // the least allowed
	MaxDecoderHeaderTableSize:     4 << 10,  // HPACK's default
	MaxEncoderHeaderTableSize:     4 << 10,
	MaxReceiveBufferPerConnection: 256 << 10,
	MaxReceiveBufferPerStream:     128 << 10,
}

// Handler is the whole app, every route behind the security wrapper.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range routeTable {
		mux.Handle(r.Pattern, s.guard(r))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+s.static, http.StripPrefix(s.static, filesOnly(static)))
	if s.cfg.Remote {
		return secure(s.remoteGate(mux))
	}
	return secure(mux)
}

// filesOnly serves the files of fsys and nothing else: a directory is not
// found rather than listed.
func filesOnly(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := fs.Stat(fsys, strings.TrimSuffix(r.URL.Path, "/"))
		if r.URL.Path == "" || err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// Serve serves HTTPS on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(tls.NewListener(ln, s.cfg.TLS))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHandedOver serves connections whose TLS handshake is done (the
// remote door's), on ln, until Close.
func (s *Server) ServeHandedOver(ln net.Listener) error {
	s.srv.TLSConfig = nil // the handshake is done; HTTP/2 still, by ALPN
	err := s.srv.Serve(ln)
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
