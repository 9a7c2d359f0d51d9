package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
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

// NormalizeName folds case and collapses white space, so that "Grandma"
// and " grandma " name the same device.
func NormalizeName(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// CheckName validates a name given by a parent.
func CheckName(name string) error {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return errors.New("name is empty")
	case len(n) > 64:
		return errors.New("name is longer than 64 bytes")
	case strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("name contains control characters")
	case bytes.ContainsAny([]byte(n), "/\\"):
		return errors.New("name contains a slash")
	}
	return nil
}
