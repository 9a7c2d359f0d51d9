package web

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/skip2/go-qrcode"

	"github.com/toyhub/toyhub/store"
)

// TOTP as RFC 6238 and every authenticator app has it: SHA-1, 6 digits,
// 30-second steps, one step of clock drift either way. A code works once.
const (
	totpPeriod = 30
	totpSkew   = 1
)

// checkTOTP returns the time step that code matches, if any.
func checkTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for d := -totpSkew; d <= totpSkew; d++ {
		s := step + int64(d)
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// verifyTOTP checks a code and spends its time step.
func (s *Server) verifyTOTP(ctx context.Context, u store.User, code string) (bool, error) {
	step, ok := checkTOTP(u.TOTPSecret, code, s.cfg.Now())
	if !ok {
		return false, nil
	}
	return s.st.UseTOTPStep(ctx, u.ID, step)
}

const totpRequiredKey = "totp_required"

func (s *Server) totpRequired(ctx context.Context) bool {
	v, err := s.st.Meta(ctx, totpRequiredKey)
	return err == nil && string(v) == "1"
}

// pendingLogins are logins whose password was right and whose code is
// still to come: in memory only, for five minutes, and five tries.
type pendingLogins struct {
	mu sync.Mutex
	m  map[string]*pendingLogin
}

type pendingLogin struct {
	user    string
	expires time.Time
	tries   int
}

const (
	pendingCookie = "__Host-toyhub-login"
	pendingLife   = 5 * time.Minute
)

func (p *pendingLogins) add(user string, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) > 1000 {
		p.m = map[string]*pendingLogin{}
	}
	for k, v := range p.m {
		if now.After(v.expires) {
			delete(p.m, k)
		}
	}
	token := newToken()
	p.m[string(store.SecretHash(token))] = &pendingLogin{user: user, expires: now.Add(pendingLife)}
	return token
}

// take returns the pending login for a token, counting a try; it is gone
// after five.
func (p *pendingLogins) take(token string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := string(store.SecretHash(token))
	v := p.m[k]
	if v == nil || now.After(v.expires) {
		delete(p.m, k)
		return "", false
	}
	v.tries++
	if v.tries > 5 {
		delete(p.m, k)
		return "", false
	}
	return v.user, true
}

func (p *pendingLogins) done(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, string(store.SecretHash(token)))
}

func (s *Server) codePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "code", formData{})
}

func (s *Server) loginCode(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(pendingCookie)
	now, ip := s.cfg.Now(), remoteIP(r)
	var userID string
	ok := false
	if err == nil {
		userID, ok = s.pending.take(c.Value, now)
	}
	if !ok {
		s.render(w, http.StatusUnauthorized, "login", formData{Error: "Please log in again: the code was asked for too long ago, or too many codes were wrong."})
		return
	}
	if wait := s.logins.wait("u:"+userID, ip, now); wait > 0 {
		s.render(w, http.StatusTooManyRequests, "code", formData{Error: fmt.Sprintf("Too many wrong codes. Wait %d seconds.", int(wait.Seconds()+1))})
		return
	}
	u, err := s.st.User(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	good, err := s.verifyTOTP(r.Context(), u, r.PostFormValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !good {
		s.logins.failed("u:"+userID, ip, now)
		s.hub.LoginFailed()
		s.st.Audit(store.Event{Kind: store.EvLoginFailed, User: u.ID, Remote: ip, Detail: "wrong code"})
		s.log.Warn("Login failed", "user", u.ID, "remote", ip, "reason", "wrong code")
		s.render(w, http.StatusUnauthorized, "code", formData{Error: "That code is not right, or was used already. Type the newest code from your app."})
		return
	}
	s.pending.done(c.Value)
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.loggedIn(w, r, u)
}

type totpData struct {
	Page
	Enabled  bool
	Required bool
	Secret   string
	QR       template.URL // data: URL of a PNG made here
	Error    string
}

func (s *Server) totpPage(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	d := totpData{Page: s.page(r, "account"), Enabled: cur.user.TOTPSecret != "", Required: s.totpRequired(r.Context())}
	if !d.Enabled {
		key, err := totp.Generate(totp.GenerateOpts{Issuer: "toyhub", AccountName: cur.user.Login, Period: totpPeriod,
			SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Secret = key.Secret()
		if d.QR, err = qrDataURL(totpURL(cur.user.Login, d.Secret)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, http.StatusOK, "totp", d)
}

// qrDataURL draws text as a QR code, as a data: URL the page can show
// (the Content-Security-Policy allows data: images, nothing else).
func qrDataURL(text string) (template.URL, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

func (s *Server) totpEnable(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	secret := strings.TrimSpace(r.PostFormValue("secret"))
	if _, err := base32Secret(secret); err != nil {
		s.message(w, http.StatusBadRequest, "That did not work", "Start adding the code app again.")
		return
	}
	step, ok := checkTOTP(secret, r.PostFormValue("code"), s.cfg.Now())
	if !ok {
		d := totpData{Page: s.page(r, "account"), Secret: secret, Error: "That code is not right. Check the time on your phone, and type the newest code."}
		d.QR, _ = qrDataURL(totpURL(cur.user.Login, secret))
		s.render(w, http.StatusBadRequest, "totp", d)
		return
	}
	if err := s.st.SetTOTP(r.Context(), cur.user.ID, secret); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.st.UseTOTPStep(r.Context(), cur.user.ID, step); err != nil { // the code just typed is spent
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvTOTPAdded, User: cur.user.ID, Remote: remoteIP(r)})
	s.hub.ConfigChanged()
	s.log.Info("Second factor added", "user", cur.user.ID)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func base32Secret(s string) ([]byte, error) {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
	if err == nil && len(b) < 16 {
		err = errors.New("secret too short")
	}
	return b, err
}

// totpURL is the otpauth URL an authenticator app scans.
func totpURL(login, secret string) string {
	v := url.Values{"secret": {secret}, "issuer": {"toyhub"}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + url.PathEscape("toyhub:"+login) + "?" + v.Encode()
}

func (s *Server) totpRemove(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if s.totpRequired(r.Context()) {
		s.message(w, http.StatusForbidden, "The code app is required", "The owner requires a code app for every account on this hub.")
		return
	}
	if ok, err := s.verifyTOTP(r.Context(), cur.user, r.PostFormValue("code")); err != nil || !ok {
		s.message(w, http.StatusBadRequest, "That code is not right", "To remove the code app, type a current code from it.")
		return
	}
	if err := s.st.SetTOTP(r.Context(), cur.user.ID, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvTOTPRemoved, User: cur.user.ID, Remote: remoteIP(r)})
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *Server) setTOTPRequired(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if cur.user.Role != store.RoleOwner {
		s.refuse(w, r, cur.user, http.StatusForbidden, "owner only")
		return
	}
	on := r.PostFormValue("required") == "1"
	if on && cur.user.TOTPSecret == "" {
		s.message(w, http.StatusBadRequest, "Add your own code app first", "Before you require a code app for everyone, add one to your account.")
		return
	}
	v := "0"
	if on {
		v = "1"
	}
	if err := s.st.SetMeta(r.Context(), totpRequiredKey, []byte(v)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvTOTPRequired, User: cur.user.ID, Remote: remoteIP(r), Detail: v})
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}
