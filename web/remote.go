package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/store"
)

// The remote door's web app (Config.Remote). Every request there came
// through a handshake that the hub's door checked: with a household
// browser certificate naming an account, or with none while an invite is
// open. Here, on every request again:
//
//   - a certificate must still be valid in the store, and the session's
//     account must be the one it names (a parent's browser is a parent's,
//     grandma's is grandma's);
//   - without one, only redeeming an open invite is served; every other
//     request, whatever its path, gets the same bare refusal (no page, no
//     static file, no version), and so does a wrong invite secret.

type accountKey struct{}

// browserAccount is the account a request's browser certificate names,
// or "" when it has none.
func browserAccount(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	account, _ := certs.IsBrowser(r.TLS.PeerCertificates[0])
	return account
}

// certAccount is the account a remote request's certificate bound it to.
func certAccount(r *http.Request) (string, bool) {
	a, ok := r.Context().Value(accountKey{}).(string)
	return a, ok
}

// bare is the one answer a stranger gets at the remote door: nothing to
// tell one path, hub or version from another.
func bare(w http.ResponseWriter) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Length", "0")
	h["Date"] = nil // not even the server's clock
	w.WriteHeader(http.StatusNotFound)
}

// remoteGate wraps the remote door's app.
func (s *Server) remoteGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account := browserAccount(r)
		if account == "" {
			switch r.URL.Path {
			case "/join", "/join/certificate":
				next.ServeHTTP(w, r) // the handlers answer bare to anything but an open invite
			case "/ca.crt", "/ca.mobileconfig", "/ca.pem":
				// The household CA, for the browser that has just
				// redeemed an invite here, to trust the hub by.
				if from, err := netip.ParseAddr(remoteIP(r)); err == nil && s.Pending(from.Unmap()) {
					next.ServeHTTP(w, r)
					return
				}
				bare(w)
			default:
				bare(w)
			}
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		if err := s.st.CheckBrowserCert(r.Context(), certs.SerialString(leaf.SerialNumber), account); err != nil {
			var ce *store.CertificateError
			if !errors.As(err, &ce) {
				s.fail(w, r, err)
				return
			}
			why := "A parent withdrew it."
			if ce.Reason == "expired" {
				why = "It ran out on " + leaf.NotAfter.Local().Format("2 January 2006") + "."
			}
			s.remoteRefused(r, "a browser certificate: "+ce.Reason)
			s.message(w, http.StatusForbidden, "This browser's certificate no longer works",
				why+" Ask a parent for a new invite; or, at home, log in and get a new certificate on your account's page.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, account)))
	})
}

// downloads hold new certificates' files for a while, under a token of
// their own: the page that shows the passphrase links to its file, which
// a browser without a certificate may fetch.
type downloads struct {
	mu sync.Mutex
	m  map[string]pending12
}

type pending12 struct {
	p12     []byte
	from    netip.Addr // who asked for it
	expires time.Time
}

const downloadLife = 30 * time.Minute

// certFile is the name a certificate's file downloads under.
const certFile = "toyhub-browser.p12"

// Pending says a certificate's file is waiting to be fetched from the
// address from: the remote door lets that address's browser through
// without a certificate, for it (the invite that made it is spent).
func (s *Server) Pending(from netip.Addr) bool { return s.downloads.pending(from, s.cfg.Now()) }

func (d *downloads) add(p12 []byte, from netip.Addr, now time.Time) string {
	b := make([]byte, 20)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]pending12{}
	}
	for k, v := range d.m {
		if now.After(v.expires) {
			delete(d.m, k)
		}
	}
	d.m[string(store.SecretHash(token))] = pending12{p12: p12, from: from, expires: now.Add(downloadLife)}
	return token
}

func (d *downloads) pending(from netip.Addr, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.m {
		if v.from == from && now.Before(v.expires) {
			return true
		}
	}
	return false
}

func (d *downloads) get(token string, now time.Time) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[string(store.SecretHash(token))]
	if !ok || now.After(v.expires) {
		return nil, false
	}
	return v.p12, true
}

// certificateData is the page that gives a browser its certificate.
type certificateData struct {
	Page
	Nonce      string // for the page's own style, at the remote door
	Name       string
	Passphrase string
	Download   string // the file's URL
	File       string // its name
	Expires    time.Time
	Remote     string // https://NAME:PORT, to open once it is installed; "" when remote access is off
	Platform   string
	LoggedIn   bool
	Code       string // the household CA's, to compare with the parent's
}

// giveCertificate issues a certificate for a browser of u's and shows the
// page with its passphrase (shown only now) and its file; loggedIn says
// u has a session in this browser.
func (s *Server) giveCertificate(w http.ResponseWriter, r *http.Request, u store.User, loggedIn bool) {
	f, err := s.hh.IssueBrowserCert(r.Context(), Actor{User: u.ID, Remote: remoteIP(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, _ := netip.ParseAddr(remoteIP(r))
	token := s.downloads.add(f.P12, from.Unmap(), s.cfg.Now())
	d := certificateData{Name: u.Login, Passphrase: f.Passphrase, Download: "/join/certificate?t=" + token,
		File: certFile, Expires: f.NotAfter, Platform: platform(r.UserAgent()), LoggedIn: loggedIn, Code: s.cfg.CACode}
	if p := s.hh.RemotePublic(); p != "" {
		d.Remote = "https://" + p + "/"
	}
	if loggedIn {
		d.Page = Page{Login: u.Login, Parent: isParent(u), Owner: u.Role == store.RoleOwner, Nav: "account", HasCode: u.TOTPSecret != ""}
	}
	s.renderBare(w, r, http.StatusOK, "certificate", &d.Nonce, &d)
}

// certificateFile serves a new certificate's file, to whoever has the
// token of the page that showed its passphrase.
func (s *Server) certificateFile(w http.ResponseWriter, r *http.Request) {
	p12, ok := s.downloads.get(r.URL.Query().Get("t"), s.cfg.Now())
	if !ok {
		if s.cfg.Remote && browserAccount(r) == "" {
			bare(w)
			return
		}
		s.message(w, http.StatusNotFound, "This file is no longer here", "A certificate's file can be fetched for half an hour. Get a new one on your account's page.")
		return
	}
	download(w, "application/x-pkcs12", certFile, p12)
}

// renderBare renders a page that a browser without a certificate may see
// at the remote door (for it: with its style in the page, as it may fetch
// no static file, under a nonce of its own).
func (s *Server) renderBare(w http.ResponseWriter, r *http.Request, status int, name string, nonce *string, data any) {
	if !s.stranger(r) {
		s.render(w, status, name, data)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	*nonce = base64.StdEncoding.EncodeToString(b)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+*nonce+"'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	s.render(w, status, name+".bare", data)
}
