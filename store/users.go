package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Roles of people.
const (
	RoleOwner  = "owner"
	RoleParent = "parent"
	RoleFamily = "family"
)

// ErrSetupDone means the owner exists already: the setup link works once.
var ErrSetupDone = errors.New("store: setup already done")

// User is a person's account.
type User struct {
	ID            string
	Role          string
	Login         string
	Email         string
	PasswordHash  string
	PolicyVersion int
	TOTPSecret    string
	DeviceID      string // the account's identity on the message path
	CreatedAt     time.Time
}

// NewUser describes an account to create. Login is what the person types
// to log in, and the name the household sees.
type NewUser struct {
	ID            string
	Role          string
	Login         string
	Email         string
	PasswordHash  string
	PolicyVersion int
	// DeviceID is the ID for the account's device identity, created with
	// it and named like it.
	DeviceID string
}

// SetSetupToken records (the hash of) the one-time setup token, replacing
// any earlier one, as long as no owner exists.
func (s *Store) SetSetupToken(ctx context.Context, token string) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		if err := setupDone(tx); err != nil {
			return err
		}
		_, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('setup_token', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", SecretHash(token))
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: setup token: %w", err)
	}
	return nil
}

// setupDone is ErrSetupDone once any account exists.
func setupDone(tx *Tx) error {
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrSetupDone
	}
	return nil
}

// SetupPending reports whether the owner account is still to be created.
func (s *Store) SetupPending(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return false, fmt.Errorf("store: users: %w", err)
	}
	return n == 0, nil
}

// CreateOwner spends the setup token and creates the owner, in one
// transaction: the setup link works once.
func (s *Store) CreateOwner(ctx context.Context, token string, nu NewUser) (User, error) {
	nu.Role = RoleOwner
	return s.addUser(ctx, nu, func(tx *Tx) error {
		if err := setupDone(tx); err != nil {
			return err
		}
		r, err := tx.Exec("DELETE FROM meta WHERE key = 'setup_token' AND value = ?", SecretHash(token))
		if err != nil {
			return err
		}
		if k, _ := r.RowsAffected(); k == 0 {
			return fmt.Errorf("%w: the setup link is not valid", ErrNotFound)
		}
		return nil
	}, nil)
}

// AddUser creates a parent's or family member's account.
func (s *Store) AddUser(ctx context.Context, nu NewUser) (User, error) {
	if nu.Role != RoleParent && nu.Role != RoleFamily {
		return User{}, fmt.Errorf("store: role %q", nu.Role)
	}
	return s.addUser(ctx, nu, nil, nil)
}

func (s *Store) addUser(ctx context.Context, nu NewUser, before func(tx *Tx) error, after func(tx *Tx, now int64) error) (User, error) {
	if err := CheckName(nu.Login); err != nil {
		return User{}, fmt.Errorf("store: login name: %w", err)
	}
	wrapped, aead, err := s.keys.newDataKey("users", nu.ID)
	if err != nil {
		return User{}, err
	}
	login := CleanName(nu.Login)
	var email []byte
	if nu.Email != "" {
		email = seal(aead, []byte(nu.Email), ad("users", nu.ID, "email"))
	}
	now := s.now()
	err = s.w.do(ctx, func(tx *Tx) error {
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM users WHERE login_hash = ?", s.keys.nameHash("user", login)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: an account with that name", ErrExists)
		}
		if nu.DeviceID == "" {
			return errors.New("an account needs a device ID")
		}
		if err := s.insertDevice(tx, nu.DeviceID, login, KindFamily, now); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO users (id, role, login_hash, name, email, dek, password_hash, policy_version, created_at, updated_at, device_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nu.ID, nu.Role, s.keys.nameHash("user", login),
			seal(aead, []byte(login), ad("users", nu.ID, "name")), email, wrapped, nu.PasswordHash, nu.PolicyVersion, now, now, nu.DeviceID)
		if err != nil || after == nil {
			return err
		}
		return after(tx, now)
	}, nil)
	if err != nil {
		return User{}, fmt.Errorf("store: add user: %w", err)
	}
	return User{ID: nu.ID, Role: nu.Role, Login: login, Email: nu.Email, PasswordHash: nu.PasswordHash,
		PolicyVersion: nu.PolicyVersion, DeviceID: nu.DeviceID, CreatedAt: time.Unix(now, 0)}, nil
}

// EnsureDevices gives every account made before schema 4 its device
// identity, named like the account; a parent's is linked to every toy, as
// it would have been had it existed when the toys were paired. newID
// returns a fresh device ID.
func (s *Store) EnsureDevices(ctx context.Context, newID func() string) (int, error) {
	users, err := s.Users(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range users {
		if u.DeviceID != "" {
			continue
		}
		id := newID()
		err := s.w.do(ctx, func(tx *Tx) error {
			if err := s.insertDevice(tx, id, u.Login, KindFamily, s.now()); err != nil {
				return err
			}
			if _, err := tx.Exec("UPDATE users SET device_id = ? WHERE id = ? AND device_id IS NULL", id, u.ID); err != nil {
				return err
			}
			if u.Role != RoleOwner && u.Role != RoleParent {
				return nil
			}
			_, err := tx.Exec(`INSERT INTO links (a, b, created_at)
				SELECT min(id, ?1), max(id, ?1), ?2 FROM devices WHERE kind = 'toy' AND revoked_at IS NULL
				ON CONFLICT DO NOTHING`, id, s.now())
			return err
		}, nil)
		if err != nil {
			return n, fmt.Errorf("store: device for user %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// Users lists every account, oldest first.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := s.scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser removes an account and its sessions, and revokes its device
// identity, which keeps the messages it sent and received until they are
// deleted. The owner cannot be deleted.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		var role string
		var dev sql.NullString
		if err := tx.QueryRow("SELECT role, device_id FROM users WHERE id = ?", id).Scan(&role, &dev); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if role == RoleOwner {
			return errors.New("the owner's account cannot be removed")
		}
		if _, err := tx.Exec("DELETE FROM users WHERE id = ?", id); err != nil {
			return err
		}
		if dev.Valid {
			_, err := tx.Exec("UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", now, dev.String)
			return err
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	return nil
}

// SetTOTP sets (or, with "", removes) an account's TOTP secret.
func (s *Store) SetTOTP(ctx context.Context, id, secret string) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		var dek []byte
		if err := tx.QueryRow("SELECT dek FROM users WHERE id = ?", id).Scan(&dek); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var sealed []byte
		if secret != "" {
			aead, err := s.keys.dataKey("users", id, dek)
			if err != nil {
				return err
			}
			sealed = seal(aead, []byte(secret), ad("users", id, "totp"))
		}
		_, err := tx.Exec("UPDATE users SET totp_secret = ?, totp_step = 0, updated_at = ? WHERE id = ?", sealed, now, id)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: set TOTP of %s: %w", id, err)
	}
	return nil
}

// UseTOTPStep records that a code of this time step was accepted, and
// reports false if this or a later step was accepted before: a code works
// once.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	var ok bool
	err := s.w.do(ctx, func(tx *Tx) error {
		r, err := tx.Exec("UPDATE users SET totp_step = ? WHERE id = ? AND totp_step < ?", step, id, step)
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		ok = n == 1
		return nil
	}, nil)
	if err != nil {
		return false, fmt.Errorf("store: TOTP step of %s: %w", id, err)
	}
	return ok, nil
}

const userColumns = "id, role, name, email, dek, password_hash, policy_version, totp_secret, created_at, coalesce(device_id, '')"

func (s *Store) scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u                      User
		name, email, dek, totp []byte
		created                int64
	)
	if err := row.Scan(&u.ID, &u.Role, &name, &email, &dek, &u.PasswordHash, &u.PolicyVersion, &totp, &created, &u.DeviceID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	aead, err := s.keys.dataKey("users", u.ID, dek)
	if err != nil {
		return User{}, err
	}
	for _, f := range []struct {
		sealed []byte
		column string
		dst    *string
	}{{name, "name", &u.Login}, {email, "email", &u.Email}, {totp, "totp", &u.TOTPSecret}} {
		if f.sealed == nil {
			continue
		}
		plain, err := open(aead, f.sealed, ad("users", u.ID, f.column))
		if err != nil {
			return User{}, fmt.Errorf("store: %s of user %s: %w", f.column, u.ID, err)
		}
		*f.dst = string(plain)
	}
	u.CreatedAt = time.Unix(created, 0)
	return u, nil
}

// UserByLogin finds an account by its login name, compared without case.
func (s *Store) UserByLogin(ctx context.Context, login string) (User, error) {
	u, err := s.scanUser(s.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE login_hash = ?", s.keys.nameHash("user", login)))
	if err != nil {
		return User{}, fmt.Errorf("store: user by login: %w", err)
	}
	return u, nil
}

// User returns an account by ID.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := s.scanUser(s.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if err != nil {
		return User{}, fmt.Errorf("store: user %s: %w", id, err)
	}
	return u, nil
}

// SetPassword replaces an account's password hash and ends all its
// sessions: whoever knew the old password is logged out.
func (s *Store) SetPassword(ctx context.Context, id, hash string, policyVersion int) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		r, err := tx.Exec("UPDATE users SET password_hash = ?, policy_version = ?, updated_at = ? WHERE id = ?", hash, policyVersion, now, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec("DELETE FROM sessions WHERE user_id = ?", id)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: set password of %s: %w", id, err)
	}
	return nil
}
