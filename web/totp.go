package web

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
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

func (s *Server) totpRequired(ctx context.Context) bool { return s.hh.TOTPRequired(ctx) }

type totpData struct {
	Page
	Enabled  bool
	Required bool
	Secret   string
	QR       template.URL // data: URL of a PNG made here
	AddLink  template.URL // the otpauth: link, for the phone that shows the page
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
		d.AddLink = template.URL(totpURL(cur.user.Login, d.Secret))
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
		d.AddLink = template.URL(totpURL(cur.user.Login, secret))
		s.render(w, http.StatusBadRequest, "totp", d)
		return
	}
	if msg, status, ok := s.reauth(r, store.EvReauthRefused); !ok {
		d := totpData{Page: s.page(r, "account"), Secret: secret, Error: msg}
		d.QR, _ = qrDataURL(totpURL(cur.user.Login, secret))
		d.AddLink = template.URL(totpURL(cur.user.Login, secret))
		s.render(w, status, "totp", d)
		return
	}
	if err := s.hh.AddTOTP(r.Context(), actor(r), secret, step); err != nil {
		s.fail(w, r, err)
		return
	}
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

// totpRemove removes the account's code app, after the person proves
// again who they are with the password and a code from it.
func (s *Server) totpRemove(w http.ResponseWriter, r *http.Request) {
	if s.totpRequired(r.Context()) {
		s.message(w, http.StatusForbidden, "The code app is required", "The owner requires a code app for every account on this hub.")
		return
	}
	if msg, status, ok := s.reauth(r, store.EvReauthRefused); !ok {
		s.accountError(w, r, status, msg)
		return
	}
	if err := s.hh.RemoveTOTP(r.Context(), actor(r)); err != nil {
		s.refused(w, r, err, func(msg string) { s.message(w, http.StatusForbidden, "The code app was not removed", msg) })
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
