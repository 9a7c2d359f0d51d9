package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Names lists every name the store holds sealed: of devices, accounts
// (and their e-mail addresses), invites and the household. The audit
// looks for them in clear in the database files.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	var out []string
	ds, err := s.Devices(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	us, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		out = append(out, u.Login)
		if u.Email != "" {
			out = append(out, u.Email)
		}
	}
	invs, err := s.Invites(ctx)
	if err != nil {
		return nil, err
	}
	for _, i := range invs {
		out = append(out, i.Name)
	}
	h, err := s.Household(ctx)
	if err != nil {
		return nil, err
	}
	if h != "" {
		out = append(out, h)
	}
	return out, nil
}

// NormalizeName puts a name in Unicode NFC, folds case and collapses
// white space, so that "Grandma", " grandma " and a "Grandma" typed with
// combining accents name the same device.
func NormalizeName(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFC.String(name)), " "))
}

// CleanName is a name as the store keeps it: trimmed, in Unicode NFC.
func CleanName(name string) string { return norm.NFC.String(strings.TrimSpace(name)) }

// lookAlike is what a name looks like: its Unicode TR39 skeleton, case
// folded, then the skeleton of that (capitals and small letters imitate
// different letters: "Β" is a B, "β" is not), so that "Grandma" written
// with a Cyrillic "а" or as "Grandrna", "B0b" with a zero and "Βοb" in
// Greek look like the names they imitate.
func lookAlike(name string) string {
	n := strings.Join(strings.Fields(norm.NFC.String(name)), " ")
	return confusables.Skeleton(strings.ToLower(confusables.Skeleton(n)))
}

// CheckName validates a name given by a parent; its error says what is
// wrong with "it", after the caller's words for which name (for
// instance "toy name: it holds a slash"). Besides being short and
// without slashes, a name shows only what it says: no control characters,
// and no invisible ones (zero-width characters, and the bidirectional
// controls that make "Grandma\u202e..." display reversed).
func CheckName(name string) error {
	n := CleanName(name)
	switch {
	case n == "":
		return errors.New("it is empty")
	case len(n) > 64:
		return errors.New("it is too long")
	case strings.ContainsFunc(n, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }):
		return errors.New("it holds characters that cannot be shown")
	case strings.ContainsFunc(n, invisible):
		return errors.New("it holds invisible or direction-changing characters")
	case !utf8.ValidString(n):
		return errors.New("it is not valid text")
	case bytes.ContainsAny([]byte(n), "/\\"):
		return errors.New("it holds a slash")
	}
	return nil
}

// invisible reports the characters a name may not hold because they
// change how it displays without showing themselves: format characters
// (zero-width joiners and spaces, bidirectional marks, embeddings,
// overrides and isolates, the byte order mark), private-use and
// surrogate code points, and non-characters.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs) || r == utf8.RuneError ||
		(r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe
}

// nameFree refuses a name that another device (but except) has, or one
// that looks like another's, and with invites set, that an open invite
// will give.
func (s *Store) nameFree(tx *Tx, name, except string, invites bool) error {
	hash, look := s.keys.nameHash("device", name), s.keys.lookHash("device", name)
	var same, alike int
	err := tx.QueryRow("SELECT count(*) FILTER (WHERE name_hash = ?1), count(*) FILTER (WHERE look_hash = ?2) FROM devices WHERE (name_hash = ?1 OR look_hash = ?2) AND id != ?3",
		hash, look, except).Scan(&same, &alike)
	if err != nil {
		return err
	}
	if same == 0 && alike == 0 && invites {
		err := tx.QueryRow(`SELECT count(*) FILTER (WHERE name_hash = ?1), count(*) FILTER (WHERE look_hash = ?2) FROM invites
			WHERE (name_hash = ?1 OR look_hash = ?2) AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?3`, hash, look, s.now()).Scan(&same, &alike)
		if err != nil {
			return err
		}
	}
	switch {
	case same > 0:
		return fmt.Errorf("%w: a device, person or open invite with that name", ErrExists)
	case alike > 0:
		return fmt.Errorf("%w: a device, person or open invite with a name that looks the same", ErrExists)
	}
	return nil
}

// foldNames brings the names stored before schema 10 to its rules, once:
// each gets the hash of what it looks like, and a name not in Unicode
// NFC the hash of its NFC form (a name whose stored hash is not of its
// name, such as a removed device's, keeps it). Two old names that now
// count as the same keep their old hashes, and each can still be found.
func (s *Store) foldNames(ctx context.Context) error {
	if v, err := s.Meta(ctx, "names_folded"); err == nil && string(v) == "1" {
		return nil
	}
	ds, err := s.Devices(ctx)
	if err != nil {
		return err
	}
	invs, err := s.Invites(ctx)
	if err != nil {
		return err
	}
	type row struct{ table, id, name string }
	var rows []row
	for _, d := range ds {
		rows = append(rows, row{"devices", d.ID, d.Name})
	}
	for _, i := range invs {
		rows = append(rows, row{"invites", i.ID, i.Name})
	}
	err = s.w.do(ctx, func(tx *Tx) error {
		for _, r := range rows {
			var stored []byte
			if err := tx.QueryRow("SELECT name_hash FROM "+r.table+" WHERE id = ?", r.id).Scan(&stored); err != nil {
				return err
			}
			if !hmac.Equal(stored, s.keys.hashNormalized("device", strings.ToLower(strings.Join(strings.Fields(r.name), " ")))) {
				continue // not a hash of its name (a removed device)
			}
			hash := s.keys.nameHash("device", r.name)
			var taken int
			if err := tx.QueryRow("SELECT count(*) FROM "+r.table+" WHERE name_hash = ? AND id != ?", hash, r.id).Scan(&taken); err != nil {
				return err
			}
			if taken > 0 {
				hash = stored
			}
			if _, err := tx.Exec("UPDATE "+r.table+" SET name_hash = ?, look_hash = ? WHERE id = ?", hash, s.keys.lookHash("device", r.name), r.id); err != nil {
				return err
			}
		}
		_, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('names_folded', X'31') ON CONFLICT (key) DO UPDATE SET value = excluded.value")
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: fold names: %w", err)
	}
	return nil
}

// removedPrefix starts the name a removed device keeps its messages under.
const removedPrefix = "removed "

// IsRemovedName reports whether name is a removed device's placeholder,
// which pages show as such rather than as its letters.
func IsRemovedName(name string) bool {
	return strings.HasPrefix(name, removedPrefix) && len(name) == len(removedPrefix)+8
}
