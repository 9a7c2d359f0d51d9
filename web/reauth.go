package web

import (
	"fmt"
	"net/http"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
)

// reauth asks a logged-in person to prove again that they are who the
// session says, before an action that changes how the account logs in
// (a new password, a code app added or removed) or that releases or
// destroys everything (an export, a wipe): a session left open on a
// shared computer, or stolen, must not be enough (OWASP ASVS 5.0 V6.3,
// NIST SP 800-63B §4.2.3). The form gives the password as "current" and,
// when the account has a code app, a code as "reauth_code".
//
// Wrong answers count in their own limiter, per account; refused is the
// audit kind that records one. When ok is false, msg and status say what
// to show on the page.
func (s *Server) reauth(r *http.Request, refused store.EventKind) (msg string, status int, ok bool) {
	cur, _ := current(r)
	ip, now, key := remoteIP(r), s.cfg.Now(), cur.user.ID
	if wait, ok := s.limits.reauth.Reserve(key, now, true); !ok {
		s.log.Warn("Re-authentication refused", "user", cur.user.ID, "remote", ip, "reason", "rate limited")
		return fmt.Sprintf("Too many wrong passwords or codes. Wait %d seconds, then try again.", int(wait.Seconds()+1)), http.StatusTooManyRequests, false
	}
	why := ""
	if good, err := password.Verify(r.PostFormValue("current"), cur.user.PasswordHash); err != nil || !good {
		why = "wrong password"
	} else if cur.user.TOTPSecret != "" {
		if good, err := s.verifyTOTP(r.Context(), cur.user, r.PostFormValue("reauth_code")); err != nil || !good {
			why = "wrong code"
		}
	}
	if why != "" {
		s.st.Audit(store.Event{Kind: refused, User: cur.user.ID, Remote: ip, Detail: why})
		s.log.Warn("Re-authentication failed", "user", cur.user.ID, "remote", ip, "reason", why, "for", string(refused))
		if why == "wrong code" {
			return "That code is not right, or was used already. Type the newest code from your app.", http.StatusUnauthorized, false
		}
		return "Your password is not right.", http.StatusUnauthorized, false
	}
	s.limits.reauth.Succeeded(key)
	return "", 0, true
}
