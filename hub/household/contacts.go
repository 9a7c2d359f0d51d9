package household

import (
	"context"
	"errors"
	"slices"

	"github.com/toyhub/toyhub/store"
)

// link is the state of the link between two devices.
func (s *Service) link(ctx context.Context, a, b string) (store.LinkState, bool, error) {
	ls, err := s.st.LinksOf(ctx, a)
	if err != nil {
		return store.LinkState{}, false, err
	}
	for _, l := range ls {
		if l.A == b || l.B == b {
			return l, true, nil
		}
	}
	return store.LinkState{}, false, nil
}

// Link lets two devices (a person and a toy) message each other: it
// approves a contact that waited for a parent, or links them anew.
func (s *Service) Link(ctx context.Context, by Actor, a, b string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	l, ok, err := s.link(ctx, a, b)
	if err != nil {
		return err
	}
	if err := s.st.Link(ctx, a, b); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuseErr(err, "both devices must be enrolled and not revoked")
		}
		return err
	}
	kind := store.EvLinkAdded
	if ok && !l.Approved {
		kind = store.EvLinkApproved
	}
	s.log.Info("Devices linked", "a", a, "b", b, "approved", kind == store.EvLinkApproved)
	s.audit(by, kind, a, b)
	s.changed(a, b)
	return nil
}

// Unlink stops two devices messaging each other; for a contact that
// waited for a parent's approval, it is the parent's refusal. Messages
// already sent are still delivered.
func (s *Service) Unlink(ctx context.Context, by Actor, a, b string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	l, ok, err := s.link(ctx, a, b)
	if err != nil {
		return err
	}
	if !ok {
		return refuseErr(store.ErrNotFound, "those devices are not linked")
	}
	if err := s.st.Unlink(ctx, a, b); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuseErr(err, "those devices are not linked")
		}
		return err
	}
	kind := store.EvLinkRemoved
	if !l.Approved {
		kind = store.EvLinkRefused
	}
	s.log.Info("Devices unlinked", "a", a, "b", b, "refused", kind == store.EvLinkRefused)
	s.audit(by, kind, a, b)
	s.changed(a, b)
	return nil
}

// Mute mutes or unmutes a contact: a muted contact's messages neither
// reach the toy nor are sent to it, until unmuted.
func (s *Service) Mute(ctx context.Context, by Actor, a, b string, muted bool) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	if err := s.st.SetMuted(ctx, a, b, muted); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuseErr(err, "those devices are not linked")
		}
		return err
	}
	kind := store.EvLinkUnmuted
	if muted {
		kind = store.EvLinkMuted
	}
	s.audit(by, kind, a, b)
	s.changed(a, b)
	return nil
}

// SetToys sets the toys a family member's device may message: it links
// the toys listed and unlinks the others.
func (s *Service) SetToys(ctx context.Context, by Actor, person string, toys []string) error {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return err
	}
	ds, err := s.st.Devices(ctx)
	if err != nil {
		return err
	}
	ls, err := s.st.LinksOf(ctx, person)
	if err != nil {
		return err
	}
	var have []string // every link, waiting or muted too
	for _, l := range ls {
		have = append(have, l.A, l.B)
	}
	changed := []string{person}
	for _, t := range ds {
		if t.Kind != store.KindToy || t.Revoked() {
			continue
		}
		on, was := slices.Contains(toys, t.ID), slices.Contains(have, t.ID)
		if on == was {
			continue
		}
		kind := store.EvLinkAdded
		if on {
			err = s.st.Link(ctx, person, t.ID)
		} else {
			err, kind = s.st.Unlink(ctx, person, t.ID), store.EvLinkRemoved
		}
		if err != nil {
			return err
		}
		s.audit(by, kind, person, t.ID)
		changed = append(changed, t.ID)
	}
	s.changed(changed...)
	return nil
}

// Pending is a contact that waits for a parent's approval: a person and
// a toy.
type Pending struct {
	PersonID, PersonName string
	ToyID, ToyName       string
}

// Pending lists the contacts that wait for a parent's approval.
func (s *Service) Pending(ctx context.Context) ([]Pending, error) {
	ls, err := s.st.PendingLinks(ctx)
	if err != nil {
		return nil, err
	}
	var out []Pending
	for _, l := range ls {
		a, errA := s.st.Device(ctx, l.A)
		b, errB := s.st.Device(ctx, l.B)
		if errA != nil || errB != nil {
			continue
		}
		if a.Kind == store.KindToy {
			a, b = b, a
		}
		out = append(out, Pending{PersonID: a.ID, PersonName: a.Name, ToyID: b.ID, ToyName: b.Name})
	}
	return out, nil
}
