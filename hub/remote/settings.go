package remote

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPort is the remote port when a parent names none: the same
// outside (on the router) and on the hub.
const DefaultPort = 8885

// Settings are what a parent chose for remote access.
type Settings struct {
	Enabled bool   `json:"enabled"`
	Host    string `json:"host"` // a DNS name (the router's dynamic-DNS name) or a fixed address
	Port    int    `json:"port"`
	Map     bool   `json:"map"` // ask the home router for the port mapping
}

// Public is where grandparents' devices and browsers reach the hub:
// HOST:PORT, or "" when remote access is off.
func (s Settings) Public() string {
	if !s.Enabled || s.Host == "" {
		return ""
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// Check says what is wrong with the settings, in words, or nil. It makes
// no DNS look-up: the hub asks nothing beyond the LAN.
func (s Settings) Check() error {
	if !s.Enabled {
		return nil
	}
	if s.Port < 1024 || s.Port > 65535 {
		return fmt.Errorf("the port must be between 1024 and 65535, not %d", s.Port)
	}
	return CheckHost(s.Host)
}

// CheckHost checks that h is a host name (letters, digits and hyphens in
// dot-separated labels of at most 63 characters, 253 in all) or an IP
// address, by its spelling alone.
func CheckHost(h string) error {
	if h == "" {
		return errors.New("give the name (or the fixed address) the Internet reaches your home router by")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a) {
			return fmt.Errorf("%s is an address inside a home network, not one the Internet reaches", h)
		}
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 || !strings.Contains(name, ".") {
		return fmt.Errorf("%q is not a host name such as family.example.net", h)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name such as family.example.net", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a host name such as family.example.net", h)
			}
		}
	}
	return nil
}

// Warning is what a parent should know about working settings, or "".
func (s Settings) Warning() string {
	if _, err := netip.ParseAddr(s.Host); err == nil && s.Enabled {
		return "The hub is reached by a bare address: if your Internet line's address changes (most home lines' do), grandparents lose the way in. " +
			"Use your router's dynamic-DNS name instead, if it has one."
	}
	return ""
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")
