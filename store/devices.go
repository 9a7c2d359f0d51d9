package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kind is what a device is.
type Kind string

// Device kinds.
const (
	KindToy    Kind = "toy"
	KindFamily Kind = "family" // a phone, tablet or computer of a relative
)

// ParseKind checks a kind given on the command line.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindToy, KindFamily:
		return k, nil
	}
	return "", fmt.Errorf("kind %q: want toy or family", s)
}

// Device is an enrolled toy or family device.
type Device struct {
	ID        string
	Kind      Kind
	Name      string
	CreatedAt time.Time
	LastSeen  time.Time
	RevokedAt time.Time
	// Account is the ID of the web account whose identity this is, if
	// any. Such a device has no certificate: it exists so that messages
	// to and from the web app follow the same links as any other.
	Account string
}

// Revoked reports whether the device was revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// NewDevice describes a device to enroll together with its first
// certificate.
type NewDevice struct {
	ID         string
	Name       string
	Kind       Kind
	CertSerial string
	CertExpiry time.Time
}

// AddDevice enrolls a device and records its certificate, in one
// transaction. A name already in use gives ErrExists.
func (s *Store) AddDevice(ctx context.Context, nd NewDevice) (Device, error) {
	return s.addDevice(ctx, nd, nil, nil)
}

// addDevice inserts a device and its first certificate in one write
// transaction, after before (which may fill in nd, for instance from an
// invite) and followed by after. Both run in the same transaction, so
// whatever they spend (a pairing code, an invite) is spent exactly when
// the device exists.
func (s *Store) addDevice(ctx context.Context, nd NewDevice, before func(tx *Tx, now int64, nd *NewDevice) error, after func(tx *Tx, now int64) error) (Device, error) {
	var d Device
	err := s.w.do(ctx, func(tx *Tx) error {
		now := s.now()
		if before != nil {
			if err := before(tx, now, &nd); err != nil {
				return err
			}
		}
		if _, err := ParseKind(string(nd.Kind)); err != nil {
			return err
		}
		if err := s.insertDevice(tx, nd.ID, nd.Name, nd.Kind, now); err != nil {
			return err
		}
		if nd.CertSerial == "" {
			return errors.New("a device needs its first certificate")
		}
		if _, err := tx.Exec(`INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES (?, ?, ?, ?)`,
			nd.CertSerial, nd.ID, now, nd.CertExpiry.Unix()); err != nil {
			return err
		}
		if after != nil {
			if err := after(tx, now); err != nil {
				return err
			}
		}
		d = Device{ID: nd.ID, Kind: nd.Kind, Name: CleanName(nd.Name), CreatedAt: time.Unix(now, 0)}
		return nil
	}, nil)
	if err != nil {
		return Device{}, fmt.Errorf("store: add device: %w", err)
	}
	return d, nil
}

// insertDevice adds a device row, with a unique name, and no certificate:
// as such it is the identity of a web account, which nothing can use to
// connect over MQTT; addDevice adds the certificate of a real device.
func (s *Store) insertDevice(tx *Tx, id, name string, kind Kind, now int64) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("device name: %w", err)
	}
	wrapped, aead, err := s.keys.newDataKey("devices", id)
	if err != nil {
		return err
	}
	name = CleanName(name)
	if err := s.nameFree(tx, name, "", false); err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO devices (id, kind, name_hash, look_hash, name, dek, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, string(kind), s.keys.nameHash("device", name), s.keys.lookHash("device", name), seal(aead, []byte(name), ad("devices", id, "name")), wrapped, now)
	return err
}

// RenameDevice gives a device a new name, which must not be another's.
func (s *Store) RenameDevice(ctx context.Context, id, name string) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("store: device name: %w", err)
	}
	name = CleanName(name)
	err := s.w.do(ctx, func(tx *Tx) error {
		var dek []byte
		if err := tx.QueryRow("SELECT dek FROM devices WHERE id = ?", id).Scan(&dek); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if err := s.nameFree(tx, name, id, false); err != nil {
			return err
		}
		aead, err := s.keys.dataKey("devices", id, dek)
		if err != nil {
			return err
		}
		_, err = tx.Exec("UPDATE devices SET name = ?, name_hash = ?, look_hash = ? WHERE id = ?", seal(aead, []byte(name), ad("devices", id, "name")),
			s.keys.nameHash("device", name), s.keys.lookHash("device", name), id)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: rename device %s: %w", id, err)
	}
	return nil
}

const deviceColumns = "id, kind, name, dek, created_at, last_seen, revoked_at, coalesce((SELECT u.id FROM users u WHERE u.device_id = devices.id), '')"

func (s *Store) scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var (
		d                 Device
		kind              string
		name, dek         []byte
		created           int64
		lastSeen, revoked sql.NullInt64
	)
	if err := row.Scan(&d.ID, &kind, &name, &dek, &created, &lastSeen, &revoked, &d.Account); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Device{}, ErrNotFound
		}
		return Device{}, err
	}
	aead, err := s.keys.dataKey("devices", d.ID, dek)
	if err != nil {
		return Device{}, err
	}
	plain, err := open(aead, name, ad("devices", d.ID, "name"))
	if err != nil {
		return Device{}, fmt.Errorf("store: name of device %s: %w", d.ID, err)
	}
	d.Kind, d.Name = Kind(kind), string(plain)
	d.CreatedAt, d.LastSeen, d.RevokedAt = time.Unix(created, 0), unixOrZero(lastSeen), unixOrZero(revoked)
	return d, nil
}

// Device returns the device with the given ID.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	d, err := s.scanDevice(s.db.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM devices WHERE id = ?", id))
	if err != nil {
		return Device{}, fmt.Errorf("store: device %s: %w", id, err)
	}
	return d, nil
}

// DeviceByName finds a device by its name, compared case-insensitively.
func (s *Store) DeviceByName(ctx context.Context, name string) (Device, error) {
	d, err := s.scanDevice(s.db.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM devices WHERE name_hash = ?", s.keys.nameHash("device", name)))
	if err != nil {
		// The name is not repeated in the error: errors end up in logs.
		return Device{}, fmt.Errorf("store: device by name: %w", err)
	}
	return d, nil
}

// Devices lists every device, oldest first.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+deviceColumns+" FROM devices ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := s.scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RevokeDevice revokes a device and all its certificates. Revoking twice
// is not an error.
func (s *Store) RevokeDevice(ctx context.Context, id string) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		res, err := tx.Exec("UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec("UPDATE certificates SET revoked_at = coalesce(revoked_at, ?) WHERE device_id = ?", now, id)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: revoke device %s: %w", id, err)
	}
	return nil
}

// Seen records that a device connected. It does not wait for the write.
func (s *Store) Seen(id string, t time.Time) {
	_ = s.w.submit(&writeOp{tx: func(tx *Tx) error {
		_, err := tx.Exec("UPDATE devices SET last_seen = ? WHERE id = ?", t.Unix(), id)
		return err
	}, done: func(error) {}})
}

// RemoveDevice removes a device for good: its certificates are revoked
// and, with keepMessages, its name is replaced by an anonymous one while
// the messages it sent or received stay; without, the device and every
// message it sent or received are deleted.
func (s *Store) RemoveDevice(ctx context.Context, id string, keepMessages bool) error {
	now := s.now()
	var msgs []string
	err := s.w.doThen(ctx, func(tx *Tx) error {
		if keepMessages {
			var dek []byte
			if err := tx.QueryRow("SELECT dek FROM devices WHERE id = ?", id).Scan(&dek); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return ErrNotFound
				}
				return err
			}
			aead, err := s.keys.dataKey("devices", id, dek)
			if err != nil {
				return err
			}
			anon := removedPrefix + id[:min(len(id), 8)]
			if _, err := tx.Exec(`UPDATE devices SET name = ?, name_hash = ?, look_hash = NULL, revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
				seal(aead, []byte(anon), ad("devices", id, "name")), s.keys.nameHash("device", anon+" "+id), now, id); err != nil {
				return err
			}
			_, err = tx.Exec("UPDATE certificates SET revoked_at = coalesce(revoked_at, ?) WHERE device_id = ?", now, id)
			return err
		}
		rows, err := tx.Query(`SELECT id FROM messages WHERE sender_id = ?1
			UNION SELECT message_id FROM deliveries WHERE recipient_id = ?1`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			msgs = append(msgs, m)
		}
		rows.Close()
		for _, m := range msgs {
			if _, err := tx.Exec("DELETE FROM messages WHERE id = ?", m); err != nil {
				return err
			}
		}
		if _, err := tx.Exec("UPDATE users SET device_id = NULL WHERE device_id = ?", id); err != nil {
			return err
		}
		return tx.execOne("DELETE FROM devices WHERE id = ?", id)
	}, nil, func() { s.settings.forget(id) })
	if err != nil {
		return fmt.Errorf("store: remove device %s: %w", id, err)
	}
	for _, m := range msgs {
		s.hot.evict(m)
	}
	return s.truncateWAL(ctx)
}

// DeleteDevice removes a device and everything that refers to it: its
// certificates, links, and the messages it sent or was sent.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	err := s.w.doThen(ctx, func(tx *Tx) error {
		return tx.execOne("DELETE FROM devices WHERE id = ?", id) // the rest cascades
	}, nil, func() { s.settings.forget(id) })
	if err != nil {
		return fmt.Errorf("store: delete device %s: %w", id, err)
	}
	return nil
}
