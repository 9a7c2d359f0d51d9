package wire

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// InviteScheme is the scheme of invite links.
const InviteScheme = "toyhub"

// Invite lets one person's device join a household once. It carries no
// names: it may be sent by e-mail or shown as a QR code.
type Invite struct {
	Secret  string    // 26 base32 characters, 130 bits
	Pin     string    // hex SHA-256 of the hub CA's public key (SPKI)
	Hub     []string  // enrollment addresses, host:port, tried in order
	Expires time.Time // the hub refuses it after this
}

// ErrInvite is wrapped by every invite parsing error.
var ErrInvite = errors.New("wire: bad invite")

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewInviteSecret returns a random secret of 130 bits.
func NewInviteSecret() string {
	var b [17]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(secretEncoding.EncodeToString(b[:]))[:26]
}

// Link is the toyhub:// form of the invite, for a QR code or a message.
func (inv Invite) Link() string {
	q := url.Values{}
	q.Set("v", "1")
	q.Set("s", inv.Secret)
	q.Set("pin", inv.Pin)
	for _, h := range inv.Hub {
		q.Add("hub", h)
	}
	q.Set("exp", strconv.FormatInt(inv.Expires.Unix(), 10))
	return InviteScheme + "://join?" + q.Encode()
}

type inviteFile struct {
	V       int      `json:"v"`
	Link    string   `json:"link"`
	Secret  string   `json:"secret"`
	Pin     string   `json:"pin"`
	Hub     []string `json:"hub"`
	Expires int64    `json:"expires"`
}

// File is the JSON file form of the invite.
func (inv Invite) File() []byte {
	b, _ := json.MarshalIndent(inviteFile{V: 1, Link: inv.Link(), Secret: inv.Secret, Pin: inv.Pin, Hub: inv.Hub, Expires: inv.Expires.Unix()}, "", "  ")
	return append(b, '\n')
}

// ParseInvite reads an invite link or the contents of an invite file.
func ParseInvite(s string) (Invite, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var f inviteFile
		if err := Decode([]byte(s), &f); err != nil {
			return Invite{}, fmt.Errorf("%w: %v", ErrInvite, err)
		}
		if f.V != 1 {
			return Invite{}, fmt.Errorf("%w: version %d", ErrInvite, f.V)
		}
		return checkInvite(Invite{Secret: f.Secret, Pin: f.Pin, Hub: f.Hub, Expires: time.Unix(f.Expires, 0)})
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != InviteScheme || u.Host != "join" {
		return Invite{}, fmt.Errorf("%w: not a %s://join link", ErrInvite, InviteScheme)
	}
	q := u.Query()
	if q.Get("v") != "1" {
		return Invite{}, fmt.Errorf("%w: version %q", ErrInvite, q.Get("v"))
	}
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		return Invite{}, fmt.Errorf("%w: expiry %q", ErrInvite, q.Get("exp"))
	}
	return checkInvite(Invite{Secret: q.Get("s"), Pin: q.Get("pin"), Hub: q["hub"], Expires: time.Unix(exp, 0)})
}

func checkInvite(inv Invite) (Invite, error) {
	if len(inv.Secret) != 26 {
		return Invite{}, fmt.Errorf("%w: the secret must be 26 characters", ErrInvite)
	}
	if !validSecret(inv.Secret) {
		return Invite{}, fmt.Errorf("%w: the secret is not base32", ErrInvite)
	}
	if p, err := hex.DecodeString(inv.Pin); err != nil || len(p) != 32 {
		return Invite{}, fmt.Errorf("%w: the CA pin must be 64 hex characters", ErrInvite)
	}
	if len(inv.Hub) == 0 || len(inv.Hub) > 16 {
		return Invite{}, fmt.Errorf("%w: %d hub addresses", ErrInvite, len(inv.Hub))
	}
	for _, h := range inv.Hub {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" || strings.ContainsAny(host, "/?#@ ") {
			return Invite{}, fmt.Errorf("%w: hub address %q", ErrInvite, h)
		}
	}
	if inv.Expires.Unix() <= 0 {
		return Invite{}, fmt.Errorf("%w: no expiry", ErrInvite)
	}
	return inv, nil
}

func validSecret(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
