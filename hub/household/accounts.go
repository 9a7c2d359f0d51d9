package household

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strconv"
	"strings"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

// TOTPRequiredKey is the store's meta key that says whether every account
// needs a code app.
const TOTPRequiredKey = "totp_required"

// newToken returns 160 random bits, as text: for setup links and IDs.
func newToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// passwordContext is what no password may contain: the names of the
// household, its toys and its people (every account has a device named
// like it, so the device names cover the people too), and words of the
// account's own.
func (s *Service) passwordContext(ctx context.Context, own ...string) []string {
	var out []string
	if ds, err := s.st.Devices(ctx); err == nil {
		for _, d := range ds {
			out = append(out, d.Name)
		}
	}
	if name, err := s.st.Household(ctx); err == nil && name != "" {
		out = append(out, name)
	}
	return append(out, own...)
}

// checkPassword applies the password policy; what refuses it is for the
// person who typed it. what is "password" or "passphrase".
func (s *Service) checkPassword(ctx context.Context, pw, what string, own ...string) error {
	if err := password.Check(pw, s.passwordContext(ctx, own...)); err != nil {
		var pe *password.Error
		if errors.As(err, &pe) {
			return refuseErr(err, "please choose another %s: %s", what, pe.Reason)
		}
		return err
	}
	return nil
}

// hash checks a new password and hashes it.
func (s *Service) hash(ctx context.Context, pw string, own ...string) (string, error) {
	if err := s.checkPassword(ctx, pw, "password", own...); err != nil {
		return "", err
	}
	return password.Hash(pw)
}

// Owner is the first account, as the setup page asks for it.
type Owner struct {
	Token     string // the one-time setup token
	Login     string
	Email     string
	Household string // the family's name, optional
	Password  string
}

// Setup creates the owner's account with the one-time setup token. Toys
// enrolled from the console before become the owner's contacts.
func (s *Service) Setup(ctx context.Context, by Actor, o Owner) (store.User, error) {
	if err := store.CheckName(o.Login); err != nil {
		return store.User{}, refuseErr(err, "your name: %v", err)
	}
	if o.Household != "" {
		if err := store.CheckName(o.Household); err != nil {
			return store.User{}, refuseErr(err, "your family's name: %v", err)
		}
	}
	hash, err := s.hash(ctx, o.Password, o.Login, o.Email, o.Household)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.st.CreateOwner(ctx, o.Token, store.NewUser{ID: newToken()[:26], DeviceID: wire.NewDeviceID(), Login: o.Login,
		Email: o.Email, PasswordHash: hash, PolicyVersion: password.PolicyVersion})
	if errors.Is(err, store.ErrNotFound) {
		s.audit(by, store.EvSetupRefused, "", "bad setup token")
		s.log.Warn("Setup refused", "remote", by.Remote, "reason", "bad setup token")
		return u, refuseErr(err, "this setup link is not valid. Run 'toyhub setup-link' on the hub for a new one")
	}
	if err != nil {
		return u, err
	}
	if o.Household != "" {
		if err := s.st.SetHousehold(ctx, o.Household); err != nil {
			s.log.Error("Household name not saved", "error", err)
		}
	}
	if ds, err := s.st.Devices(ctx); err == nil {
		for _, d := range ds {
			if d.Kind == store.KindToy && !d.Revoked() {
				_ = s.st.Link(ctx, d.ID, u.DeviceID)
			}
		}
	}
	s.st.Audit(store.Event{Kind: store.EvSetup, User: u.ID, Device: u.DeviceID, Remote: by.Remote})
	s.log.Info("Owner account created", "user", u.ID, "remote", by.Remote)
	// No self-check now: the first runs two minutes after the hub starts
	// (AuditStartDelay), and the owner is about to pair toys and invite
	// the family, each of which runs one.
	return u, nil
}

// SetupLink makes a new one-time setup link, replacing any earlier one,
// while no owner account exists.
func (s *Service) SetupLink(ctx context.Context, by Actor) (string, error) {
	if _, err := s.allow(ctx, by, owner); err != nil {
		return "", err
	}
	base := s.d.Addresses.Web()
	if base == "" {
		return "", refuse("the web app is off (no web address)")
	}
	token := newToken()
	if err := s.st.SetSetupToken(ctx, token); err != nil {
		if errors.Is(err, store.ErrSetupDone) {
			return "", refuseErr(err, "the hub is set up already; a forgotten password is reset with 'toyhub user reset-password'")
		}
		return "", err
	}
	return base + "/setup?token=" + token, nil
}

// Join makes a web account with an invite's secret: a family member sees
// only the invite's toys, a parent everything.
func (s *Service) Join(ctx context.Context, by Actor, secret, pw string) (store.User, error) {
	inv, err := s.st.InviteBySecret(ctx, secret)
	if err != nil {
		return store.User{}, s.joinRefused(by, err, "bad invite")
	}
	hash, err := s.hash(ctx, pw, inv.Name)
	if err != nil {
		return store.User{}, err
	}
	u, toys, err := s.st.RedeemInviteAccount(ctx, secret, store.NewUser{ID: newToken()[:26], DeviceID: wire.NewDeviceID(),
		PasswordHash: hash, PolicyVersion: password.PolicyVersion})
	switch {
	case errors.Is(err, store.ErrBadInvite):
		return u, s.joinRefused(by, err, "invite spent meanwhile")
	case errors.Is(err, store.ErrExists):
		return u, refuseErr(err, "someone here already has the name on this invite. Ask the parent who sent it for a new invite with another name")
	case err != nil:
		return u, err
	}
	s.st.Audit(store.Event{Kind: store.EvJoined, User: u.ID, Device: u.DeviceID, Remote: by.Remote, Detail: "web account, " + strconv.Itoa(len(toys)) + " toys"})
	s.log.Info("Invite redeemed", "user", u.ID, "remote", by.Remote, "linked", len(toys))
	s.changed(append([]string{u.DeviceID}, toys...)...)
	return u, nil
}

// JoinRefused records an invite refused at the web app's door; err says
// why for the caller (store.ErrBadInvite).
func (s *Service) joinRefused(by Actor, err error, why string) error {
	s.audit(by, store.EvJoinRefused, "", why)
	s.log.Warn("Invite refused", "remote", by.Remote, "reason", why)
	return refuseErr(err, "this invite cannot be used: it was used already, has expired or was withdrawn. Ask the parent who sent it for a new one")
}

// ChangePassword sets the actor's own new password; the door has checked
// the current one. Every other session of the account ends.
func (s *Service) ChangePassword(ctx context.Context, by Actor, pw string) error {
	u, err := s.allow(ctx, by, member)
	if err != nil {
		return err
	}
	if err := s.setPassword(ctx, u, pw); err != nil {
		return err
	}
	s.audit(by, store.EvPasswordChanged, "", "")
	s.log.Info("Password changed", "user", u.ID)
	return nil
}

// ResetPassword sets an account's password from the hub's console: running
// it needs the hub's user on the hub, which proves physical access.
func (s *Service) ResetPassword(ctx context.Context, by Actor, login, pw string) error {
	if !by.console() {
		return refuse("a password is reset from the hub's console")
	}
	u, err := s.st.UserByLogin(ctx, login)
	if err != nil {
		return refuseErr(err, "no account has that name")
	}
	if err := s.setPassword(ctx, u, pw); err != nil {
		return err
	}
	s.log.Info("Password reset from the console", "user", u.ID)
	s.st.Audit(store.Event{Kind: store.EvPasswordReset, User: u.ID, Remote: by.Remote})
	return nil
}

// RemoveCodeApp removes an account's code app from the hub's console, for
// a person who lost the phone it was on: like a password reset, running
// it needs the hub's user on the hub. Every session of the account ends;
// if the owner requires a code app, the person adds a new one at the next
// login.
func (s *Service) RemoveCodeApp(ctx context.Context, by Actor, login string) error {
	if !by.console() {
		return refuse("a code app is removed for someone else from the hub's console")
	}
	u, err := s.st.UserByLogin(ctx, login)
	if err != nil {
		return refuseErr(err, "no account has that name")
	}
	if u.TOTPSecret == "" {
		return refuse("this account has no code app")
	}
	if err := s.st.SetTOTP(ctx, u.ID, ""); err != nil {
		return err
	}
	if err := s.st.EndSessions(ctx, u.ID); err != nil {
		return err
	}
	s.log.Info("Code app removed from the console", "user", u.ID)
	s.st.Audit(store.Event{Kind: store.EvTOTPRemoved, User: u.ID, Remote: by.Remote, Detail: "from the console"})
	s.changed()
	return nil
}

func (s *Service) setPassword(ctx context.Context, u store.User, pw string) error {
	hash, err := s.hash(ctx, pw, u.Login, u.Email)
	if err != nil {
		return err
	}
	if err := s.st.SetPassword(ctx, u.ID, hash, password.PolicyVersion); err != nil {
		return err
	}
	s.changed()
	return nil
}

// AddTOTP binds a code app to the actor's account; the door has checked a
// code from it, whose time step is spent.
func (s *Service) AddTOTP(ctx context.Context, by Actor, secret string, step int64) error {
	u, err := s.allow(ctx, by, member)
	if err != nil {
		return err
	}
	if err := s.st.SetTOTP(ctx, u.ID, secret); err != nil {
		return err
	}
	if _, err := s.st.UseTOTPStep(ctx, u.ID, step); err != nil { // the code just typed is spent
		return err
	}
	s.audit(by, store.EvTOTPAdded, "", "")
	s.log.Info("Second factor added", "user", u.ID)
	s.changed()
	return nil
}

// RemoveTOTP removes the actor's code app, unless the owner requires one.
func (s *Service) RemoveTOTP(ctx context.Context, by Actor) error {
	u, err := s.allow(ctx, by, member)
	if err != nil {
		return err
	}
	if s.TOTPRequired(ctx) {
		return refuse("the owner requires a code app for every account on this hub")
	}
	if err := s.st.SetTOTP(ctx, u.ID, ""); err != nil {
		return err
	}
	s.audit(by, store.EvTOTPRemoved, "", "")
	s.changed()
	return nil
}

// TOTPRequired reports whether every account needs a code app.
func (s *Service) TOTPRequired(ctx context.Context) bool {
	v, err := s.st.Meta(ctx, TOTPRequiredKey)
	return err == nil && string(v) == "1"
}

// RequireTOTP requires, or no longer requires, a code app for every
// account; the owner must have one first.
func (s *Service) RequireTOTP(ctx context.Context, by Actor, on bool) error {
	u, err := s.allow(ctx, by, owner)
	if err != nil {
		return err
	}
	if on && u.TOTPSecret == "" {
		return refuse("add your own code app first: before you require a code app for everyone, add one to your account")
	}
	v := map[bool]string{true: "1", false: "0"}[on]
	if err := s.st.SetMeta(ctx, TOTPRequiredKey, []byte(v)); err != nil {
		return err
	}
	s.audit(by, store.EvTOTPRequired, "", v)
	s.changed()
	return nil
}
