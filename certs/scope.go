package certs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Scope is what the household CA may vouch for, as X.509 name
// constraints in its certificate: the hub's own names and the address
// ranges of a home network. A browser or phone that trusts the CA then
// trusts it for these alone: whoever took the CA's key still could not
// pass for any other website.
type Scope struct {
	// DNS names, each with every name under it ("local" is every mDNS
	// name, "localhost" the machine itself).
	DNS []string
	IPs []netip.Prefix
}

// HomeIPs are the ranges a home network uses: loopback, link-local, the
// IPv4 private ranges and IPv6 unique-local addresses.
var HomeIPs = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// HomeScope is the scope of a hub known by names, on a home network:
// the names given (its host name, names a parent configured), "local"
// and "localhost", and HomeIPs besides any addresses given.
func HomeScope(names ...string) Scope {
	s := Scope{DNS: []string{"local", "localhost"}, IPs: slices.Clone(HomeIPs)}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if a, err := netip.ParseAddr(n); err == nil {
			if !s.Permits(a.String()) {
				s.IPs = append(s.IPs, netip.PrefixFrom(a, a.BitLen()))
			}
			continue
		}
		if n != "" && !s.Permits(n) {
			s.DNS = append(s.DNS, n)
		}
	}
	return s
}

// Permits reports whether the scope covers name, a DNS name or an
// address.
func (s Scope) Permits(name string) bool {
	if a, err := netip.ParseAddr(name); err == nil {
		a = a.Unmap()
		for _, p := range s.IPs {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, d := range s.DNS {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

// equal reports whether two scopes say the same, in any order.
func (s Scope) equal(o Scope) bool {
	key := func(s Scope) string {
		var parts []string
		for _, d := range s.DNS {
			parts = append(parts, "d "+d)
		}
		for _, p := range s.IPs {
			parts = append(parts, "i "+p.Masked().String())
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	}
	return key(s) == key(o)
}

// Scope is what the CA's certificate permits; an empty scope for a CA
// made before name constraints, which permits everything.
func (ca *CA) Scope() Scope {
	s := Scope{DNS: slices.Clone(ca.Cert.PermittedDNSDomains)}
	for _, r := range ca.Cert.PermittedIPRanges {
		a, _ := netip.AddrFromSlice(r.IP)
		ones, _ := r.Mask.Size()
		s.IPs = append(s.IPs, netip.PrefixFrom(a.Unmap(), ones-(len(r.IP)*8-a.Unmap().BitLen())))
	}
	return s
}

// constrain fills a CA template's name constraints, critical as RFC 5280
// requires.
func constrain(tmpl *x509.Certificate, scope Scope) {
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = slices.Clone(scope.DNS)
	tmpl.PermittedIPRanges = nil
	for _, p := range scope.IPs {
		p = p.Masked()
		tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
}

// Rescope gives the CA a certificate with scope as its name constraints,
// signed by the same key, with the same name and key identifier, when its
// constraints differ: devices that pinned the key, and certificates the
// CA signed, stay valid, and a device holding the older certificate still
// verifies the hub. It reports whether the certificate changed; the
// caller writes ca.PEM where the old one was.
func (ca *CA) Rescope(scope Scope, now time.Time) (bool, error) {
	if ca.Cert.PermittedDNSDomainsCritical && ca.Scope().equal(scope) {
		return false, nil
	}
	serial, err := newSerial()
	if err != nil {
		return false, err
	}
	old := ca.Cert
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               old.Subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              old.NotAfter,
		KeyUsage:              old.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          old.SubjectKeyId,
	}
	if tmpl.NotBefore.After(old.NotBefore) {
		tmpl.NotBefore = old.NotBefore // what it signed stays within its life
	}
	constrain(tmpl, scope)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		return false, fmt.Errorf("certs: re-issue the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false, fmt.Errorf("certs: %w", err)
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) {
		return false, fmt.Errorf("certs: the re-issued CA has another key")
	}
	ca.Cert, ca.PEM = cert, EncodeCert(der)
	return true, nil
}

// Code is the CA's short code: 16 digits, in groups of four, from its key,
// for a person to compare by eye between the hub's console and a page in
// the browser. It stays the same when the certificate is re-issued. (53
// bits: finding another key with the same code takes thousands of
// core-years.)
func (ca *CA) Code() string { return Code(ca.Cert) }

// Code is the short code of a CA certificate's key (see CA.Code).
func Code(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	d := fmt.Sprintf("%016d", binary.BigEndian.Uint64(sum[:8])%1e16)
	return d[0:4] + " " + d[4:8] + " " + d[8:12] + " " + d[12:16]
}
