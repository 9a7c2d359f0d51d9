package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors of invites.
var (
	ErrBadInvite = errors.New("store: invite unknown, used, expired or revoked")
	// ErrInviteForWeb: a parent's invite makes a web account, not a device.
	ErrInviteForWeb = errors.New("store: this invite is for a parent's web account")
)

// NewInvite describes an invite to create.
type NewInvite struct {
	ID      string
	Secret  string // only its hash is stored
	Name    string
	Role    string   // RoleFamily, or RoleParent (a web account only)
	Toys    []string // device IDs the new device will be linked to
	Expires time.Time
}

// Invite is an invite as the parents see it.
type Invite struct {
	ID         string
	Name       string
	Role       string
	Toys       []string
	CreatedAt  time.Time
	Expires    time.Time
	RedeemedAt time.Time
	DeviceID   string
	RevokedAt  time.Time
}

// Open reports whether the invite can still be redeemed at t.
func (i Invite) Open(t time.Time) bool {
	return i.RedeemedAt.IsZero() && i.RevokedAt.IsZero() && t.Before(i.Expires)
}

// AddInvite stores an invite. The name must not be a device's already.
func (s *Store) AddInvite(ctx context.Context, ni NewInvite) error {
	if err := CheckName(ni.Name); err != nil {
		return fmt.Errorf("store: invite name: %w", err)
	}
	wrapped, aead, err := s.keys.newDataKey("invites", ni.ID)
	if err != nil {
		return err
	}
	name := CleanName(ni.Name)
	sealedName := seal(aead, []byte(name), ad("invites", ni.ID, "name"))
	now := s.now()
	err = s.w.do(ctx, func(tx *Tx) error {
		if err := s.nameFree(tx, name, "", true); err != nil {
			return err
		}
		var n int
		for _, toy := range ni.Toys {
			if err := tx.QueryRow("SELECT count(*) FROM devices WHERE id = ? AND kind = 'toy' AND revoked_at IS NULL", toy).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: toy %s", ErrNotFound, toy)
			}
		}
		_, err := tx.Exec(`INSERT INTO invites (id, secret_hash, name, name_hash, look_hash, dek, role, toys, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ni.ID, SecretHash(ni.Secret), sealedName, s.keys.nameHash("device", name), s.keys.lookHash("device", name), wrapped, ni.Role,
			strings.Join(ni.Toys, ","), now, ni.Expires.Unix())
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: add invite: %w", err)
	}
	return nil
}

// Invites lists every invite, newest first.
func (s *Store) Invites(ctx context.Context) ([]Invite, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, dek, role, toys, created_at, expires_at, redeemed_at, coalesce(device_id, ''), revoked_at
		FROM invites ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: invites: %w", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		var (
			inv               Invite
			name, dek         []byte
			toys              string
			created, expires  int64
			redeemed, revoked sql.NullInt64
		)
		if err := rows.Scan(&inv.ID, &name, &dek, &inv.Role, &toys, &created, &expires, &redeemed, &inv.DeviceID, &revoked); err != nil {
			return nil, err
		}
		aead, err := s.keys.dataKey("invites", inv.ID, dek)
		if err != nil {
			return nil, err
		}
		plain, err := open(aead, name, ad("invites", inv.ID, "name"))
		if err != nil {
			return nil, fmt.Errorf("store: name of invite %s: %w", inv.ID, err)
		}
		inv.Name = string(plain)
		if toys != "" {
			inv.Toys = strings.Split(toys, ",")
		}
		inv.CreatedAt, inv.Expires = time.Unix(created, 0), time.Unix(expires, 0)
		inv.RedeemedAt, inv.RevokedAt = unixOrZero(redeemed), unixOrZero(revoked)
		out = append(out, inv)
	}
	return out, rows.Err()
}

// RevokeInvite closes an invite that was not redeemed.
func (s *Store) RevokeInvite(ctx context.Context, id string) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("UPDATE invites SET revoked_at = ? WHERE id = ? AND redeemed_at IS NULL AND revoked_at IS NULL", now, id)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: revoke invite %s: %w", id, err)
	}
	return nil
}

// RedeemInvite spends an invite and enrolls the device it names, linked to
// the invite's toys, in one transaction: of two redemptions of the same
// secret, exactly one wins. nd's name and kind are taken from the invite.
func (s *Store) RedeemInvite(ctx context.Context, secret string, nd NewDevice) (Device, []string, error) {
	var (
		toys     []string
		inviteID string
	)
	d, err := s.addDevice(ctx, nd, func(tx *Tx, now int64, nd *NewDevice) error {
		var (
			id, toyList, role string
			name, dek         []byte
		)
		err := tx.QueryRow(`SELECT id, name, dek, role, toys FROM invites
			WHERE secret_hash = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, SecretHash(secret), now).
			Scan(&id, &name, &dek, &role, &toyList)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrBadInvite
		}
		if err != nil {
			return err
		}
		if role != RoleFamily {
			return ErrInviteForWeb
		}
		if _, err := tx.Exec("UPDATE invites SET redeemed_at = ? WHERE id = ?", now, id); err != nil {
			return err
		}
		inviteID = id
		aead, err := s.keys.dataKey("invites", id, dek)
		if err != nil {
			return err
		}
		plain, err := open(aead, name, ad("invites", id, "name"))
		if err != nil {
			return err
		}
		nd.Name, nd.Kind = string(plain), KindFamily
		if toyList != "" {
			toys = strings.Split(toyList, ",")
		}
		return nil
	}, func(tx *Tx, now int64) error {
		return invited(tx, inviteID, nd.ID, toys, now, false)
	})
	if err != nil {
		return Device{}, nil, err
	}
	return d, slices.Clone(toys), nil
}

// invited finishes a redemption once the new device exists: the invite
// points at it, and it is linked to the invite's toys that are still there
// (approved at once only for a parent's invite).
func invited(tx *Tx, inviteID, device string, toys []string, now int64, approved bool) error {
	if _, err := tx.Exec("UPDATE invites SET device_id = ? WHERE id = ?", device, inviteID); err != nil {
		return err
	}
	for _, toy := range toys {
		a, b := order(device, toy)
		// Waiting for a parent: an invite link may have been forwarded,
		// and whoever redeemed it must not reach the child's toy until a
		// parent has seen who it was.
		if _, err := tx.Exec(`INSERT INTO links (a, b, created_at, approved) SELECT ?, ?, ?, ? WHERE EXISTS
			(SELECT 1 FROM devices WHERE id = ? AND revoked_at IS NULL) ON CONFLICT DO NOTHING`, a, b, now, approved, toy); err != nil {
			return err
		}
	}
	return nil
}

// RedeemInviteAccount spends an invite to create a family member's web
// account instead of a device: the account is named as the invite, and
// its device identity is linked to the invite's toys, in one transaction.
// nu's login and role are taken from the invite.
func (s *Store) RedeemInviteAccount(ctx context.Context, secret string, nu NewUser) (User, []string, error) {
	var (
		toys     []string
		inviteID string
	)
	// The invite's name is needed before the account is made, so it is
	// read first and the invite spent inside the account's transaction.
	now := s.now()
	var (
		name, dek []byte
		role      string
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, name, dek, role FROM invites
		WHERE secret_hash = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, SecretHash(secret), now).
		Scan(&inviteID, &name, &dek, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, nil, ErrBadInvite
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("store: invite: %w", err)
	}
	aead, err := s.keys.dataKey("invites", inviteID, dek)
	if err != nil {
		return User{}, nil, err
	}
	plain, err := open(aead, name, ad("invites", inviteID, "name"))
	if err != nil {
		return User{}, nil, fmt.Errorf("store: name of invite %s: %w", inviteID, err)
	}
	nu.Login, nu.Role = string(plain), role
	u, err := s.addUser(ctx, nu, func(tx *Tx) error {
		var toyList string
		err := tx.QueryRow(`SELECT toys FROM invites WHERE id = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
			inviteID, s.now()).Scan(&toyList)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrBadInvite
		}
		if err != nil {
			return err
		}
		if toyList != "" {
			toys = strings.Split(toyList, ",")
		}
		if role == RoleParent {
			// A parent talks to every toy.
			rows, err := tx.Query("SELECT id FROM devices WHERE kind = 'toy' AND revoked_at IS NULL ORDER BY id")
			if err != nil {
				return err
			}
			toys = nil
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				toys = append(toys, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		_, err = tx.Exec("UPDATE invites SET redeemed_at = ? WHERE id = ?", s.now(), inviteID)
		return err
	}, func(tx *Tx, now int64) error {
		return invited(tx, inviteID, nu.DeviceID, toys, now, role == RoleParent)
	})
	if err != nil {
		return User{}, nil, err
	}
	return u, slices.Clone(toys), nil
}

// InviteBySecret returns the open invite that a secret opens.
func (s *Store) InviteBySecret(ctx context.Context, secret string) (Invite, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM invites WHERE secret_hash = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		SecretHash(secret), s.now()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Invite{}, ErrBadInvite
	}
	if err != nil {
		return Invite{}, fmt.Errorf("store: invite: %w", err)
	}
	invs, err := s.Invites(ctx)
	if err != nil {
		return Invite{}, err
	}
	for _, inv := range invs {
		if inv.ID == id {
			return inv, nil
		}
	}
	return Invite{}, ErrBadInvite
}

// HasOpenInvite reports whether any invite can still be redeemed: the
// remote door refuses a browser without a certificate outright when none
// can.
func (s *Store) HasOpenInvite(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM invites WHERE redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?", s.now()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: open invites: %w", err)
	}
	return n > 0, nil
}
