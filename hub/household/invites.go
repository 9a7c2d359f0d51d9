package household

import (
	"context"
	"errors"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// InviteRequest describes an invite to make.
type InviteRequest struct {
	Name string // who it is for, as the family calls them
	// Parent makes a parent's invite: a web account that may do
	// everything, and talks to every toy.
	Parent bool
	Toys   []string // the toys (IDs) a family member may message
	// Expires is how long the invite stays valid, such as "72h"; empty:
	// the default.
	Expires string
}

// NewInvite is an invite just made. Its secret is in Link, File and
// WebLink and is not kept by the hub, so this is the only time it can be
// read.
type NewInvite struct {
	ID      string
	Secret  string
	Role    string
	Link    string // toyhub://join… for a family device
	File    string // the invite as a file, for a family device
	WebLink string // opens the invite in a browser; "" when the web app is off
	// RemoteLink opens it from beyond the LAN, at the remote port; ""
	// while remote access is off.
	RemoteLink string
	Expires    time.Time
}

// CreateInvite makes an invite.
func (s *Service) CreateInvite(ctx context.Context, by Actor, r InviteRequest) (NewInvite, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return NewInvite{}, err
	}
	if err := store.CheckName(r.Name); err != nil {
		return NewInvite{}, refuseErr(err, "their name: %v", err)
	}
	role := store.RoleFamily
	if r.Parent {
		role, r.Toys = store.RoleParent, nil // a parent talks to every toy
	}
	life := s.cfg.InviteExpiry
	if r.Expires != "" {
		d, err := time.ParseDuration(r.Expires)
		if err != nil || d <= 0 || d > s.cfg.MaxInviteExpiry {
			return NewInvite{}, refuse("expiry %q: want a duration up to %v, such as 72h", r.Expires, s.cfg.MaxInviteExpiry)
		}
		life = d
	}
	for _, id := range r.Toys {
		d, err := s.st.Device(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && (d.Kind != store.KindToy || d.Revoked()) {
			return NewInvite{}, refuse("one of the chosen toys is not there any more")
		}
		if err != nil {
			return NewInvite{}, err
		}
	}
	inv := wire.Invite{Secret: wire.NewInviteSecret(), Pin: certs.Pin(s.d.Issuer.CA().Cert), Hub: s.d.Addresses.Enroll(),
		Expires: s.cfg.Now().Add(life).Truncate(time.Second)}
	id := wire.NewInviteSecret()[:8]
	err := s.st.AddInvite(ctx, store.NewInvite{ID: id, Secret: inv.Secret, Name: r.Name, Role: role, Toys: r.Toys, Expires: inv.Expires})
	if errors.Is(err, store.ErrExists) {
		return NewInvite{}, refuseErr(err, "a device or an open invite already has that name; choose another")
	}
	if err != nil {
		return NewInvite{}, err
	}
	s.log.Info("Invite created", "invite", id, "toys", len(r.Toys), "expires", inv.Expires.UTC().Format(time.RFC3339))
	s.audit(by, store.EvInviteCreated, "", id)
	s.changed()
	res := NewInvite{ID: id, Secret: inv.Secret, Role: role, Link: inv.Link(), File: string(inv.File()), Expires: inv.Expires}
	if base := s.d.Addresses.Web(); base != "" {
		res.WebLink = base + "/join?s=" + inv.Secret
		if p := s.d.Remote.Status().Public; p != "" {
			res.RemoteLink = "https://" + p + "/join?s=" + inv.Secret
		}
	}
	return res, nil
}

// Invite describes an invite.
type Invite struct {
	ID      string
	Name    string
	Role    string
	Toys    []string // names
	Created time.Time
	Expires time.Time
	State   string // "open", "used", "expired" or "withdrawn"
	Device  string // the device that used it
}

// Invites lists every invite.
func (s *Service) Invites(ctx context.Context) ([]Invite, error) {
	invs, err := s.st.Invites(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]Invite, 0, len(invs))
	for _, i := range invs {
		v := Invite{ID: i.ID, Name: i.Name, Role: i.Role, Created: i.CreatedAt, Expires: i.Expires, Device: i.DeviceID}
		switch {
		case !i.RedeemedAt.IsZero():
			v.State = "used"
		case !i.RevokedAt.IsZero():
			v.State = "withdrawn"
		case !now.Before(i.Expires):
			v.State = "expired"
		default:
			v.State = "open"
		}
		for _, t := range i.Toys {
			if d, err := s.st.Device(ctx, t); err == nil {
				v.Toys = append(v.Toys, d.Name)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// RevokeInvite withdraws an open invite: its link and file no longer work.
func (s *Service) RevokeInvite(ctx context.Context, by Actor, id string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	if err := s.st.RevokeInvite(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuseErr(err, "no open invite has that ID: it is used or withdrawn already")
		}
		return err
	}
	s.log.Info("Invite revoked", "invite", id)
	s.audit(by, store.EvInviteRevoked, "", id)
	s.changed()
	return nil
}
